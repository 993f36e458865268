"""Training curves: one PNG per panel, and every panel one kind of quantity on one y-axis.

A script declares its panels (pretrain.PANELS, semantic_alignment_train.PANELS); train_common
draws them from the run's history after every epoch. A series names a key of the per-epoch
records (`train_loss`, `val_macro_f1`, ...), `step:<key>` for the per-step log, or a key ending
in `*` for one line per matching key (`train_ds_*`: one line per dataset).
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Panel:
    file: str                # PNG name under plots/
    title: str
    ylabel: str              # what every series of the panel measures
    series: tuple            # (legend label, key) pairs; see the module docstring


def values(key, epochs, steps):
    """(x, y) of one series: epochs (or fractional epochs for `step:` keys) and values."""
    if key.startswith('step:'):
        name = key[len('step:'):]
        rows = [s for s in steps if s.get(name) is not None]
        return [s['epoch'] for s in rows], [s[name] for s in rows]
    rows = [e for e in epochs if e.get(key) is not None]
    return [e['epoch'] for e in rows], [e[key] for e in rows]


def expand(series, epochs):
    """Series with `*` keys replaced by one (label, key) per matching record key, sorted."""
    out = []
    for label, key in series:
        if key.endswith('*'):
            found = sorted({k for e in epochs for k in e if k.startswith(key[:-1])})
            out += [(f'{label} {k[len(key) - 1:]}', k) for k in found]
        else:
            out.append((label, key))
    return out


def draw(panels, epochs, steps, folder):
    """Write one PNG per panel into `folder` (a panel without data says so)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    for panel in panels:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for label, key in expand(panel.series, epochs):
            xs, ys = values(key, epochs, steps)
            if ys:
                step = key.startswith('step:')
                ax.plot(xs, ys, '-' if step else 'o-', label=label, alpha=0.35 if step else 1.0)
        ax.set(title=panel.title, xlabel='epoch', ylabel=panel.ylabel)
        if ax.lines:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, 'no data yet', ha='center', va='center', transform=ax.transAxes)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(folder / panel.file, dpi=110)
        plt.close(fig)
