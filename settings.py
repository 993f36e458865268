"""Settings of the training scripts: defaults, overrides from a YAML file and from the shell, the
rule each setting must satisfy, and what a run records about itself.

A script's `settings()` returns its constants; its RULES (the shared ones below, the script's
own beside its settings()) say what each may be, its CROSS_RULES which settings must agree.
`configure` reads `--config FILE` (a YAML mapping of setting names to values, lower- or
upper-case: a run's own config.yaml is one), then `--name=value` from the shell, checks every
value, and refuses a bad one with one line that names the option, the value and what is
expected: exit status 2, before any folder is created, data opened or model built.

    python pretrain.py --config configs/small_cpu_stage1.yaml --epochs=2
"""
import argparse
import ast
import math
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import yaml


class Refused(SystemExit):
    """A setting or input the script cannot use: one line saying which and why, exit status 2.
    Raise it anywhere before work starts; `run_script` prints it."""

    def __init__(self, message, printed=False):
        super().__init__(2)
        self.message = message if message.startswith('error: ') else f'error: {message}'
        self.printed = printed

    def __str__(self):
        return self.message


def run_script(main):
    """The scripts' entry point: main(), with a refusal printed as its one line (exit status 2)."""
    try:
        main()
    except Refused as e:
        if not e.printed:
            print(e, file=sys.stderr)
        raise SystemExit(2) from None


class Parser(argparse.ArgumentParser):
    """argparse with the scripts' refusal: one line, exit status 2 (no usage block)."""

    def error(self, message):
        refusal = Refused(f'{self.prog}: {message}', printed=True)
        print(refusal, file=sys.stderr)
        raise refusal


# ------------------------------------------------------------------------ rules

class Rule:
    """What a setting may be: check(value) -> bool, `expected` in words, and `bad`, values of
    the setting's type that break it (the tests try them)."""

    def __init__(self, check, expected, bad=()):
        self.check, self.expected, self.bad = check, expected, list(bad)


def count(minimum=1):
    return Rule(lambda v: v >= minimum, f'an integer >= {minimum}', [minimum - 1, minimum - 10])


def positive():
    return Rule(lambda v: math.isfinite(v) and v > 0, 'a number > 0', [0.0, -1.0])


def at_least(minimum):
    return Rule(lambda v: math.isfinite(v) and v >= minimum, f'a number >= {minimum:g}', [minimum - 1.0])


def interval(lo, hi, closed=(True, True)):
    """lo <= v <= hi, each end open unless `closed` says otherwise."""
    left, right = ('[' if closed[0] else '('), (']' if closed[1] else ')')
    bad = [lo - 0.5, hi + 0.5] + ([lo] if not closed[0] else []) + ([hi] if not closed[1] else [])
    return Rule(lambda v: (lo <= v if closed[0] else lo < v) and (v <= hi if closed[1] else v < hi),
                f'a number in {left}{lo:g}, {hi:g}{right}', bad)


def one_of(*choices):
    return Rule(lambda v: v in choices, 'one of ' + ', '.join(repr(c) for c in choices), ['nope'])


def non_empty():
    return Rule(lambda v: len(v) > 0, 'not empty', [''])


def names(allow_empty=True):
    """A list of dataset names: strings without spaces or commas."""
    ok = lambda v: (allow_empty or v) and all(isinstance(n, str) and n and not set(n) & set(' ,') for n in v)  # noqa: E731
    return Rule(ok, 'a list of dataset names' + ('' if allow_empty else ' (at least one)'),
                [] if allow_empty else [[]])


def anything():
    return Rule(lambda v: True, 'any value of its type')


# Rules of the settings both stages have (a script adds its own: RULES = {**SHARED_RULES, ...}).
SHARED_RULES = {
    'OUT_ROOT': non_empty(), 'DATA_ROOT': non_empty(),
    'DATASETS': names(allow_empty=False), 'HOLDOUT_DATASETS': names(),
    'HOP_SECONDS': positive(), 'MIN_WINDOW_SECONDS': positive(),
    'SAMPLING_ALPHA': at_least(0.0), 'NUM_WORKERS': count(0),
    'ROTATION': one_of('so3', 'gravity', 'none'),
    'JITTER_SIGMA': at_least(0.0), 'SCALE_SIGMA': at_least(0.0),
    'ACC_ONLY_PROB': interval(0, 1), 'GRAVITY_REMOVAL_PROB': interval(0, 1), 'LOW_RATE_PROB': interval(0, 1),
    'LOW_RATE_MIN_HZ': positive(),
    'BATCH_SIZE': count(1), 'LEARNING_RATE': at_least(0.0), 'MIN_LR': at_least(0.0),
    'WARMUP_EPOCHS': at_least(0.0), 'WEIGHT_DECAY': at_least(0.0), 'GRAD_CLIP': positive(),
    'EPOCHS': count(0), 'STEPS_PER_EPOCH': count(0), 'MAX_STEPS': count(0),
    'SEED': count(0), 'LOG_INTERVAL': count(1), 'SAVE_EVERY': count(1), 'COMPILE': anything(),
}


def shared_cross_rules(cfg):
    """Agreement between shared settings -> list of refusals (one line each)."""
    out = []
    if not [n for n in cfg.DATASETS if n not in cfg.HOLDOUT_DATASETS]:
        out.append(f'--holdout_datasets={cfg.HOLDOUT_DATASETS} holds out every one of --datasets={cfg.DATASETS}: '
                   f'nothing is left to train on')
    return out


def window_rules(cfg, names, patch_size, rate_hz):
    """Windows that the encoder can see and a lower-rate condition that changes something ->
    list of refusals. names: the settings (in seconds) that must hold at least one patch of
    patch_size samples at rate_hz."""
    out, patch_s = [], patch_size / rate_hz
    for name in names:
        if getattr(cfg, name) < patch_s:
            out.append(f'--{name.lower()}={getattr(cfg, name)} is shorter than one patch of the encoder: '
                       f'{patch_size} samples at {rate_hz:g} Hz is {patch_s:g} s')
    if cfg.LOW_RATE_PROB > 0 and cfg.LOW_RATE_MIN_HZ >= rate_hz:
        out.append(f'--low_rate_min_hz={cfg.LOW_RATE_MIN_HZ} is not below the model\'s rate ({rate_hz:g} Hz): '
                   f'--low_rate_prob={cfg.LOW_RATE_PROB} would change nothing')
    return out


def shared_warnings(cfg):
    """Legal but pointless settings -> list of one-line warnings."""
    out = []
    if cfg.EPOCHS == 0:
        out.append('--epochs=0 trains nothing (and a --resume continues nothing): the run only writes its folder')
    if cfg.MIN_LR > cfg.LEARNING_RATE:
        out.append(f'--min_lr={cfg.MIN_LR} is above --learning_rate={cfg.LEARNING_RATE}: after the warm-up the '
                   f'learning rate rises towards min_lr instead of decaying to it')
    if cfg.EPOCHS and cfg.SAVE_EVERY > cfg.EPOCHS:
        out.append(f'--save_every={cfg.SAVE_EVERY} is more than --epochs={cfg.EPOCHS}: no checkpoint_epoch_*.pt '
                   f'will be written (latest.pt and best.pt are)')
    if cfg.WARMUP_EPOCHS > cfg.EPOCHS > 0:
        out.append(f'--warmup_epochs={cfg.WARMUP_EPOCHS} is longer than the run (--epochs={cfg.EPOCHS}): '
                   f'the learning rate never reaches --learning_rate')
    return out


def option(rule, parse=float):
    """An argparse `type` that parses the text with `parse` and checks `rule`: a bad value is
    refused as 'argument --x: expected <rule>, got <text>'."""
    def convert(text):
        try:
            value = parse(text)
        except ValueError:
            value = None
        if value is None or not rule.check(value):
            raise argparse.ArgumentTypeError(f'expected {rule.expected}, got {text!r}')
        return value
    return convert


def option_list(rule, parse=int):
    """An argparse `type` for comma-separated values, each parsed and checked against `rule`."""
    one = option(rule, parse)

    def convert(text):
        try:
            values = [one(t) for t in text.split(',') if t.strip()]
        except argparse.ArgumentTypeError:
            values = []
        if not values:
            raise argparse.ArgumentTypeError(f'expected comma-separated values, each {rule.expected}, got {text!r}')
        return values
    return convert


# ------------------------------------------------------------------------ reading settings

def configure(defaults, rules, cross_rules=(), warnings=(), argv=None, log=print):
    """Upper-case constants -> checked namespace, and the --resume path (or None).

    `--config FILE` (YAML) is read first, then every `--name=value` of the shell, whatever their
    order. Names are the lower-case constant names; values are Python literals of the default's
    type (an int is accepted for a float, a comma-separated text for a list). Every setting is
    checked against `rules` (name -> Rule), then `cross_rules` (functions cfg -> refusals);
    `warnings` (functions cfg -> lines) are printed. `--help` lists the settings, their
    defaults and what each may be.
    """
    cfg = {k: v for k, v in defaults.items() if k.isupper()}
    missing = sorted(set(cfg) - set(rules))
    assert not missing, f'settings without a rule: {missing}'
    argv = sys.argv[1:] if argv is None else list(argv)
    resume, config, overrides = None, None, []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ('-h', '--help'):
            print(describe(cfg, rules))
            raise SystemExit(0)
        key, sep, text = arg[2:].partition('=') if arg.startswith('--') else ('', '', '')
        if key in ('resume', 'config'):
            if not sep:
                if i + 1 >= len(argv):
                    raise Refused(f'--{key} needs {"a checkpoint" if key == "resume" else "a YAML file"} path')
                text, i = argv[i + 1], i + 1
            resume, config = (text, config) if key == 'resume' else (resume, text)
        elif sep:
            overrides.append((key, text))
        else:
            raise Refused(f'cannot parse argument {arg!r}; use --name=value with one of: '
                          + ', '.join(f'--{k.lower()}' for k in cfg) + ', --resume, --config')
        i += 1
    if config is not None:
        for key, value in read_config(config).items():
            name = known(str(key), cfg, f'--config {config}: key ')
            cfg[name] = typed(key, value, cfg[name], f'--config {config}: key {key!r}')
    for key, text in overrides:
        name = known(key, cfg, 'option --')
        value = text if isinstance(cfg[name], str) else literal(text)   # a text setting keeps the text as given
        cfg[name] = typed(key, value, cfg[name], f'--{key.lower()}={text}')
    out = SimpleNamespace(**cfg)
    check(out, rules, cross_rules)
    for warn in warnings:
        for line in warn(out):
            log(f'warning: {line}')
    return out, resume


def known(key, cfg, what='option --'):
    """The constant a setting name refers to; an unknown one is refused with the valid names."""
    name = key.upper().replace('-', '_')
    if name not in cfg:
        valid = ', '.join(f'--{k.lower()}' for k in cfg)
        raise Refused(f'unknown {what}{key}; valid: {valid}, --resume, --config')
    return name


def read_config(path):
    """A YAML file of settings -> dict. A missing file or one that is not a mapping is refused."""
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise Refused(f'--config {path}: cannot read it ({e.strerror})') from None
    except yaml.YAMLError as e:
        raise Refused(f'--config {path}: not valid YAML ({str(e).splitlines()[0]})') from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise Refused(f'--config {path}: expected a mapping of setting names to values, got {type(data).__name__}')
    return data


def literal(text):
    """A shell value: a Python literal if it is one, else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def typed(key, value, default, where):
    """`value` as the default's type (int -> float, 'a,b' -> ['a', 'b'], tuple -> list), or refused.
    A number written as text (YAML reads 1e-4 as a string) is read as a number."""
    if isinstance(value, str) and isinstance(default, (int, float)) and not isinstance(default, bool):
        value = literal(value)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, (list, tuple)):
        if isinstance(value, str):                                     # --datasets=hapt,uci_har
            value = [v for v in value.split(',') if v]
        ok = isinstance(value, (list, tuple))
        value = list(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise Refused(f'{where}: expected {type(default).__name__} (like {default!r}), got {value!r}')
    return value


def check(cfg, rules, cross_rules=()):
    """Refuse the first setting that breaks its rule, then the first disagreement."""
    for name, rule in rules.items():
        value = getattr(cfg, name)
        if not rule.check(value):
            raise Refused(f'--{name.lower()}={value!r}: expected {rule.expected}')
    for cross in cross_rules:
        problems = cross(cfg)
        if problems:
            raise Refused(problems[0])


def describe(cfg, rules):
    """--help: every setting with its default and what it may be."""
    lines = ['settings (default; what it may be). Set them as --name=value, or in a YAML file given as --config FILE:']
    for k, v in cfg.items():
        lines.append(f'  --{k.lower()}={v!r}  ({rules[k].expected})')
    lines.append('  --resume PATH   continue a run from its latest.pt (or any checkpoint)')
    lines.append('  --config FILE   settings from a YAML file (e.g. a run\'s config.yaml); the shell\'s win')
    return '\n'.join(lines)


# ------------------------------------------------------------------------ what a run records

def environment(device, precision, reason=''):
    """What a run ran on: the repo's commit (and whether the tree had changes), Python and the
    packages the results depend on, the device and the number format (and why)."""
    import numpy
    import torch
    repo = Path(__file__).resolve().parent

    def git(*args):
        try:
            return subprocess.run(['git', *args], cwd=repo, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ''
    versions = {'python': platform.python_version(), 'torch': str(torch.__version__), 'numpy': numpy.__version__}
    for name in ('sentence-transformers', 'transformers'):          # read from the install, not imported
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {'git_commit': git('rev-parse', 'HEAD') or None, 'git_dirty': bool(git('status', '--porcelain')),
            'versions': versions, 'platform': platform.platform(), 'device': str(device), 'precision': precision,
            'precision_reason': reason}
