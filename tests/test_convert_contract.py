"""The contract every converter keeps, checked on each converter's tiny raw fixture:

  - the CLI (`python -m datasets.prepare NAME --raw PATH --out ROOT`) converts the fixture, prints
    the summary of what it wrote and where, and exits 0;
  - the output is a pure function of the raw input: converting twice gives byte-identical files;
  - a failed conversion (the fixture broken by the converter's breaker) raises a ConversionError
    naming the file (and line), makes the CLI exit with status 2 naming it too, and leaves the
    earlier prepared copy byte for byte as it was, with no temporary folder left under --out;
  - a folder without the dataset, or no folder at all, is refused with a ConversionError that says
    what the right folder holds, or that it does not exist;
  - --raw may be the folder above the raw folder, and, where the dataset is distributed as a zip,
    the zip itself or the folder holding it: the output is the same.

A new converter joins by adding one line to REGISTRY: its name, the fixture writer
(`write_<name>(base) -> the path to give --raw`), the zip writer (`<name>_zip(tmp) -> zip path`, or
None where the converter reads no zip) and the breaker (`break_<name>(raw) -> fragments the error
message must contain`, the first one naming the file).
"""
import fnmatch
import re
import shutil
from pathlib import Path

import pytest

from datasets.format import ConversionError, PreparedDataset
from datasets.prepare import DATASETS, EXTRA, converter
from datasets.prepare import main as prepare_main
from fixtures_dsads import break_dsads, write_dsads
from fixtures_hapt import break_hapt, write_hapt
from fixtures_hugadb import break_hugadb, hugadb_zip, write_hugadb
from fixtures_ku_har import break_ku_har, write_ku_har
from fixtures_raw_a import (break_hhar, break_mhealth, break_pamap2, break_uci_har, break_wisdm_2019,
                            break_wisdm_v11, folder_bytes, hhar_zip, mhealth_zip, pamap2_zip, uci_har_zip,
                            wisdm_2019_zip, write_hhar, write_mhealth, write_pamap2, write_uci_har,
                            write_wisdm_2019, write_wisdm_v11)
from fixtures_recgym import break_recgym, write_recgym
from fixtures_sisfall import break_sisfall, sisfall_zip, write_sisfall
from fixtures_spsw import break_spsw, write_spsw
from fixtures_umafall import break_umafall, umafall_zip, write_umafall
from fixtures_unimib_shar import break_unimib_shar, write_unimib_shar
from fixtures_utd_mhad import break_utd_mhad, utd_mhad_zip, write_utd_mhad

REGISTRY = [  # name, fixture writer, zip writer or None, breaker
    ('uci_har', write_uci_har, uci_har_zip, break_uci_har),
    ('hhar', write_hhar, hhar_zip, break_hhar),
    ('mhealth', write_mhealth, mhealth_zip, break_mhealth),
    ('pamap2', write_pamap2, pamap2_zip, break_pamap2),
    ('wisdm', write_wisdm_2019, wisdm_2019_zip, break_wisdm_2019),
    ('wisdm', write_wisdm_v11, None, break_wisdm_v11),
    ('unimib_shar', write_unimib_shar, None, break_unimib_shar),
    ('dsads', write_dsads, None, break_dsads),
    ('hapt', write_hapt, None, break_hapt),
    ('ku_har', write_ku_har, None, break_ku_har),
    ('recgym', write_recgym, None, break_recgym),
    ('hugadb', write_hugadb, hugadb_zip, break_hugadb),
    ('utd_mhad', write_utd_mhad, utd_mhad_zip, break_utd_mhad),
    ('sisfall', write_sisfall, sisfall_zip, break_sisfall),
    ('umafall', write_umafall, umafall_zip, break_umafall),
    ('spsw', write_spsw, None, break_spsw),
]

def case_id(writer):
    """write_wisdm_2019 -> 'wisdm_2019'."""
    return writer.__name__.removeprefix('write_')


def cases(test, with_zip=False):
    """The registry as pytest params for `test` (only converters with a zip writer if with_zip)."""
    params = []
    for name, write, zip_writer, breaker in REGISTRY:
        if with_zip and zip_writer is None:
            continue
        params.append(pytest.param(name, write, zip_writer, breaker, id=case_id(write)))
    return params


def only_the_prepared_folder(out, name):
    """Nothing but <out>/<name> under --out: no temporary writer or extraction folder left."""
    return sorted(p.name for p in Path(out).iterdir()) == [name]


def refers_to_content(message, raw):
    """Does `message` name something (a file or folder name, a relative path or a glob of one, with
    <placeholders> taken as globs) that the fixture under `raw` holds?"""
    paths = [p.relative_to(raw).as_posix() for p in Path(raw).rglob('*')]
    names = {Path(p).name for p in paths}
    tokens = set(re.findall(r'"([^"]+)"', message)) | {w.strip('"\'(),;:') for w in message.split()}
    for token in tokens:
        pattern = re.sub(r'<[^>]*>', '*', token)
        if len(pattern.strip('*')) < 3:
            continue
        if any(fnmatch.fnmatchcase(n, pattern) for n in names) or \
                any(fnmatch.fnmatchcase(p, pattern) or fnmatch.fnmatchcase(p, f'*/{pattern}') for p in paths):
            return True
    return False


def test_registry_holds_every_converter():
    names = [name for name, *_ in REGISTRY]
    assert set(names) == set(DATASETS + EXTRA)
    assert len({case_id(write) for _, write, _, _ in REGISTRY}) == len(REGISTRY)


@pytest.mark.parametrize('name, write, zip_writer, breaker', cases('cli'))
def test_cli_converts_and_summarises(tmp_path, capsys, name, write, zip_writer, breaker):
    raw = write(tmp_path / 'raw')
    out = tmp_path / 'out'
    assert prepare_main([name, '--raw', str(raw), '--out', str(out)]) is None      # no SystemExit: status 0
    captured = capsys.readouterr()
    assert f'preparing {name} ...' in captured.err and 'error:' not in captured.err
    meta = PreparedDataset(out / name).meta                       # the summary is of what was written
    lines = captured.out.splitlines()
    hours = meta['n_samples'] / meta['rate_hz'] / 3600
    labelled = sum(l['segments'] for l in meta['labels'])
    head = (f'{name}: {meta["n_samples"]:,} samples x {meta["n_channels"]} channels at 50 Hz ({hours:.2f} h), '
            f'{len(meta["subjects"])} subjects, {labelled} labelled segments, ')
    assert lines[0].startswith(head) and re.fullmatch(r'\d+\.\d s', lines[0][len(head):]), lines[0]
    assert meta['n_samples'] > 0 and labelled > 0
    listed = [l.split() for l in lines[1:1 + len(meta['labels'])]]
    assert [(' '.join(l[:-2]), int(l[-2]), l[-1]) for l in listed] == [
        (l['name'], l['segments'], 'segments') for l in meta['labels']]
    repairs = lines[1 + len(meta['labels']):-1]
    assert repairs == [f'  repaired: {what}: {n:,}' for what, n in meta['repairs'].items()]
    assert lines[-1] == f'  -> {out / name}'
    assert only_the_prepared_folder(out, name)


@pytest.mark.parametrize('name, write, zip_writer, breaker', cases('deterministic'))
def test_converting_twice_gives_identical_bytes(tmp_path, name, write, zip_writer, breaker):
    convert = converter(name)
    raw = write(tmp_path / 'raw')
    convert(raw, tmp_path / 'a')
    first = folder_bytes(tmp_path / 'a' / name)
    assert set(first) == {'meta.json', 'signals.bin', 'segments.npy'}
    convert(raw, tmp_path / 'b')
    assert folder_bytes(tmp_path / 'b' / name) == first
    convert(raw, tmp_path / 'a')                                  # over the earlier copy
    assert folder_bytes(tmp_path / 'a' / name) == first
    assert only_the_prepared_folder(tmp_path / 'a', name)


@pytest.mark.parametrize('name, write, zip_writer, breaker', cases('failed'))
def test_failed_conversion_keeps_the_earlier_copy(tmp_path, capsys, name, write, zip_writer, breaker):
    convert = converter(name)
    raw = write(tmp_path / 'raw')
    out = tmp_path / 'out'
    convert(raw, out)
    before = folder_bytes(out / name)
    n_samples = PreparedDataset(out / name).meta['n_samples']
    fragments = breaker(raw)
    assert Path(fragments[0]).suffix, 'the first fragment names the broken file'
    with pytest.raises(ConversionError) as err:
        convert(raw, out)
    for text in fragments:
        assert text in str(err.value)
    assert folder_bytes(out / name) == before
    assert only_the_prepared_folder(out, name)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        prepare_main([name, '--raw', str(raw), '--out', str(out)])
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert f'error: {name}: ' in captured.err and fragments[0] in captured.err
    assert f'failed: {name} (earlier prepared copies, if any, are unchanged)' in captured.err
    assert f'-> {out / name}' not in captured.out
    assert folder_bytes(out / name) == before
    assert PreparedDataset(out / name).meta['n_samples'] == n_samples
    assert only_the_prepared_folder(out, name)


@pytest.mark.parametrize('name, write, zip_writer, breaker', cases('wrong'))
def test_wrong_folder_is_refused_saying_what_it_should_hold(tmp_path, name, write, zip_writer, breaker):
    raw = write(tmp_path / 'raw')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ConversionError) as err:
        converter(name)(tmp_path / 'empty', tmp_path / 'out')
    message = str(err.value)
    assert str(tmp_path / 'empty') in message
    assert refers_to_content(message, raw), message
    assert not (tmp_path / 'out' / name).exists()


@pytest.mark.parametrize('name, write, zip_writer, breaker', cases('missing'))
def test_missing_folder_is_refused(tmp_path, name, write, zip_writer, breaker):
    with pytest.raises(ConversionError) as err:
        converter(name)(tmp_path / 'nowhere', tmp_path / 'out')
    assert str(tmp_path / 'nowhere') in str(err.value) and 'does not exist' in str(err.value)
    assert not (tmp_path / 'out' / name).exists()


@pytest.mark.parametrize('name, write, zip_writer, breaker', cases('parent'))
def test_folder_above_the_raw_folder_converts_alike(tmp_path, name, write, zip_writer, breaker):
    convert = converter(name)
    raw = write(tmp_path / 'above' / 'base')                      # raw's parent holds nothing else
    convert(raw, tmp_path / 'a')
    convert(raw.parent, tmp_path / 'b')
    assert folder_bytes(tmp_path / 'b' / name) == folder_bytes(tmp_path / 'a' / name)


@pytest.mark.parametrize('name, write, zip_writer, breaker', cases('zip', with_zip=True))
def test_zip_converts_like_the_unpacked_folder(tmp_path, name, write, zip_writer, breaker):
    convert = converter(name)
    convert(write(tmp_path / 'raw'), tmp_path / 'from_folder')
    zipped = zip_writer(tmp_path / 'download')
    convert(zipped, tmp_path / 'from_zip')
    assert folder_bytes(tmp_path / 'from_zip' / name) == folder_bytes(tmp_path / 'from_folder' / name)
    assert only_the_prepared_folder(tmp_path / 'from_zip', name)                 # extraction removed


@pytest.mark.parametrize('name, write, zip_writer, breaker', cases('holder', with_zip=True))
def test_folder_holding_the_zip_converts_like_the_unpacked_folder(tmp_path, name, write, zip_writer, breaker):
    convert = converter(name)
    convert(write(tmp_path / 'raw'), tmp_path / 'from_folder')
    holder = tmp_path / 'downloads'
    holder.mkdir()
    zipped = zip_writer(tmp_path / 'download')
    shutil.copy(zipped, holder / zipped.name)
    convert(holder, tmp_path / 'from_holder')
    assert folder_bytes(tmp_path / 'from_holder' / name) == folder_bytes(tmp_path / 'from_folder' / name)
    assert only_the_prepared_folder(tmp_path / 'from_holder', name)
