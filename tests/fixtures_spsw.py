"""Tiny spsw fixtures copying the real layout: sp-sw-har-dataset/DATA/sXX/sXX_YY_{sp,sw}.csv with the
header x_acc,y_acc,z_acc,x_gyro,y_gyro,z_gyro,timestamp,label, jittered ~100 Hz unix-ms stamps with
repeats, and executions_info.csv. Each execution follows SEQUENCE; the seated parts hold gravity.
"""
from pathlib import Path

import numpy as np

HEADER = 'x_acc,y_acc,z_acc,x_gyro,y_gyro,z_gyro,timestamp,label'
SEQUENCE = [('SEATED', 1.0), ('STANDING_UP', 1.0), ('WALKING', 2.0), ('TURNING', 1.0),
            ('WALKING', 2.0), ('TURNING', 1.0), ('SITTING_DOWN', 1.0), ('SEATED', 0.5)]
START_MS = 1657533977813
EXECUTIONS_INFO = ('execution_id,orientation,first_turn,second_turn\n'
                   's01_01,back_inv,l,r\ns01_02,back,r,r\ns02_01,back_inv,l,r\n')


def recording(seed, duplicates=5):
    """Lines of one execution: jittered ~100 Hz unix-ms stamps, `duplicates` repeated stamps."""
    rng = np.random.default_rng(seed)
    total_ms = sum(d for _, d in SEQUENCE) * 1000
    steps = rng.choice([9, 10, 11], size=int(total_ms / 10))
    steps[rng.choice(np.arange(1, len(steps)), duplicates, replace=False)] = 0
    t = START_MS + seed * 100_000 + np.cumsum(steps) - steps[0]
    ends = np.cumsum([d for _, d in SEQUENCE]) * 1000
    label = [SEQUENCE[min(np.searchsorted(ends, ms - t[0], side='right'), len(SEQUENCE) - 1)][0]
             for ms in t]
    moving = np.array([name != 'SEATED' for name in label])
    acc = 0.05 * rng.standard_normal((len(t), 3)) + [-4.16, -1.18, -8.99]
    acc[moving] += 2.0 * np.sin(t[moving, None] / 80.0 + np.arange(3))
    gyro = 0.01 * rng.standard_normal((len(t), 3)) + moving[:, None] * 0.5
    return [','.join(f'{v:.15g}' for v in (*a, *g)) + f',{ms},{name}'
            for a, g, ms, name in zip(acc, gyro, t, label)]


def write_csv(path, lines, header=HEADER):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('\n'.join([header] + lines) + '\n')


def write_spsw(base):
    """base/sp-sw-har-dataset/DATA/{s01 (2 executions), s02 (1)}/sXX_YY_{sp,sw}.csv -> the DATA folder."""
    data = Path(base) / 'sp-sw-har-dataset' / 'DATA'
    for s, executions in ((1, 2), (2, 1)):
        for e in range(1, executions + 1):
            for k, device in enumerate(('sp', 'sw')):
                write_csv(data / f's{s:02d}' / f's{s:02d}_{e:02d}_{device}.csv', recording(10 * s + 2 * e + k))
    (data / 'executions_info.csv').write_text(EXECUTIONS_INFO)
    return data


def break_spsw(raw):
    """s02's smartwatch file (read after s01 was written) holds a row of 3 values."""
    write_csv(Path(raw) / 's02' / 's02_01_sw.csv', ['1,2,3'])
    return ['s02_01_sw.csv', 'line 2', 'expected 8 values, found 3']
