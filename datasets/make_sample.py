"""Build the small real sample that ships in sample_data/ (run by maintainers, needs the raw data).

    python -m datasets.make_sample --hapt <UCI_HAPT folder> --spsw <SpSw_HAR folder>

hapt: users 1-6 (both experiments each), stored at 25 Hz; spsw: subjects s01-s04, smartphone
and smartwatch, 25 Hz. Both are made by this repo's own converters; 25 Hz keeps the sample at a
few MB (the loader resamples to the model's rate on the fly).
"""
import argparse

from datasets import hapt, spsw

SAMPLE_RATE_HZ = 25.0
HAPT_USERS = {1, 2, 3, 4, 5, 6}
SPSW_SUBJECTS = ['s01', 's02', 's03', 's04']


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--hapt', required=True, help='raw UCI HAPT folder')
    ap.add_argument('--spsw', required=True, help='raw SpSw_HAR (Matey-Sanz 2023) folder')
    ap.add_argument('--out', default='sample_data')
    args = ap.parse_args()
    hapt.convert(args.hapt, args.out, rate_hz=SAMPLE_RATE_HZ, subjects=HAPT_USERS)
    spsw.convert(args.spsw, args.out, rate_hz=SAMPLE_RATE_HZ, subjects=SPSW_SUBJECTS)
    print(f'sample written to {args.out}')


if __name__ == '__main__':
    main()
