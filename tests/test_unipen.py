"""The real-stroke loader, the writers' halves and the pad/paper drawings, on tiny files the tests write."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from digitlab import unipen
from digitlab.data import DataError

ROOT = Path(__file__).resolve().parent.parent


def _sample(label: str, writer: str, strokes=None) -> dict:
    strokes = strokes or [[[0, 0], [0, 40]], [[0, 0], [20, 10]]]
    return {"label": label, "writer": writer, "strokes": strokes}


def _write(path: Path, records, raw: bytes | None = None) -> Path:
    text = "\n".join(json.dumps(record) for record in records) + "\n"
    path.write_bytes(raw if raw is not None else gzip.compress(text.encode()))
    return path


@pytest.fixture
def tiny(tmp_path) -> Path:
    """Two contributors, five writers, 24 digits."""
    records = []
    for writer, count in [("aaa-000", 6), ("aaa-001", 5), ("aaa-002", 2), ("bbb-000", 7), ("bbb-001", 4)]:
        records += [_sample(str(k % 10), writer) for k in range(count)]
    return _write(tmp_path / "digits.jsonl.gz", records)


def test_loads_every_digit_with_label_writer_and_strokes(tiny):
    digits = unipen.load_digits(tiny, sha256=None)
    assert len(digits) == 24
    assert digits[0].label == 0 and digits[0].writer == "aaa-000" and digits[0].contributor == "aaa"
    assert [stroke.shape for stroke in digits[0].strokes] == [(2, 2), (2, 2)]


def test_checksum_is_checked(tiny):
    right = hashlib.sha256(tiny.read_bytes()).hexdigest()
    assert len(unipen.load_digits(tiny, sha256=right)) == 24
    with pytest.raises(DataError, match="sha256"):
        unipen.load_digits(tiny)  # the published checksum is not this file's


def test_missing_file_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv(unipen.ENV_VAR, str(tmp_path / "nowhere.jsonl.gz"))
    with pytest.raises(DataError, match=r"nowhere.jsonl.gz \(\$DIGITLAB_UNIPEN\)"):
        unipen.load_digits()


@pytest.mark.parametrize("raw, message", [
    (b"\x1f\x8b\x08\x00garbage", "not a readable gzip"),
    (gzip.compress(b'{"label": "12", "writer": "a-0", "strokes": [[[0, 0]]]}\n'), "line 1: not a digit"),
    (gzip.compress(b'{"label": "1", "writer": "a-0"}\n'), "line 1: not a digit"),
    (gzip.compress(b'{"label": "1", "writer": "a-0", "strokes": [[[0, "x"]]]}\n'), "line 1: not a digit"),
    (gzip.compress(b'{"label": "1", "writer": "a-0", "strokes": [[]]}\n'), "line 1: not a digit"),
    (gzip.compress(b"\n\n"), "holds no digits"),
])
def test_damaged_files_are_refused_with_the_reason(tmp_path, raw, message):
    path = _write(tmp_path / "bad.jsonl.gz", [], raw=raw)
    with pytest.raises(DataError, match=message):
        unipen.load_digits(path, sha256=None)


def test_halves_split_writers_within_each_contributor(tiny):
    digits = unipen.load_digits(tiny, sha256=None)
    halves = unipen.split_writers(digits)
    assert halves == unipen.split_writers(list(reversed(digits)))  # depends on the data, not its order
    assert not halves["choose"] & halves["report"]
    assert halves["choose"] | halves["report"] == {digit.writer for digit in digits}
    for half in unipen.HALVES:
        assert {writer.split("-")[0] for writer in halves[half]} == {"aaa", "bbb"}
    chosen = unipen.writers_half(digits, "choose")
    assert {digit.writer for digit in chosen} == halves["choose"]
    with pytest.raises(ValueError, match="half must be one of"):
        unipen.writers_half(digits, "test")


def test_fit_strokes_scales_to_the_height_keeping_the_aspect():
    placed = unipen.fit_strokes([np.array([[10.0, 5.0], [30.0, 105.0]])], height=50, origin=(7, 3))
    assert np.allclose(placed[0], [[7, 3], [17, 53]])
    dash = unipen.fit_strokes([np.array([[0.0, 0.0], [40.0, 0.0]])], height=20)
    assert np.allclose(dash[0], [[0, 0], [20, 0]])  # no height: scaled by its width


def test_strings_are_of_one_writer_laid_out_left_to_right(tiny):
    digits = unipen.load_digits(tiny, sha256=None)
    lines = unipen.strings(digits, 20, seed=3)
    assert [line.text for line in lines] == [line.text for line in unipen.strings(digits, 20, seed=3)]
    for line in lines:
        assert 3 <= len(line.text) <= 8
        labels_of_writer = {str(d.label) for d in digits if d.writer == line.writer}
        assert set(line.text) <= labels_of_writer
        # Each digit here is two strokes; digit k's strokes lie right of digit k-1's.
        lefts = [min(line.strokes[2 * k][:, 0].min(), line.strokes[2 * k + 1][:, 0].min())
                 for k in range(len(line.text))]
        rights = [max(line.strokes[2 * k][:, 0].max(), line.strokes[2 * k + 1][:, 0].max())
                  for k in range(len(line.text))]
        assert all(left > right for left, right in zip(lefts[1:], rights))
        image = line.on_pad()
        assert image.shape == line.size and image.max() == 255
        assert image[:, :5].max() == 0 and image[:, -5:].max() == 0  # a margin all round
        assert unipen.PEN_WIDTHS[0] <= line.pen_width <= unipen.PEN_WIDTHS[1]
        written = [digits[index] for index in line.sources]  # the digits it was written with, in order
        assert "".join(str(d.label) for d in written) == line.text and {d.writer for d in written} == {line.writer}


def test_a_string_turned_keeps_all_its_ink_on_a_larger_canvas(tiny):
    line = unipen.strings(unipen.load_digits(tiny, sha256=None), 1, seed=3)[0]
    height, width = line.size
    upright = line.turned(90)  # counter-clockwise: the first digit ends at the bottom
    assert np.allclose(upright.size, (width, height), atol=1) and upright.text == line.text
    first, last = upright.strokes[0], upright.strokes[-1]
    assert first[:, 1].mean() > last[:, 1].mean()
    assert (upright.on_pad() > 0).sum() == pytest.approx((line.on_pad() > 0).sum(), rel=0.05)
    slanted = line.turned(-10)
    assert slanted.size[0] > height and slanted.size[1] > width
    assert all((stroke >= 0).all() and (stroke <= slanted.size[::-1]).all() for stroke in slanted.strokes)


def test_two_strings_one_over_the_other_make_a_page_of_two_lines(tiny):
    first, second = unipen.strings(unipen.load_digits(tiny, sha256=None), 2, seed=3)
    page = first.over(second, 0.25)
    assert page.text == f"{first.text}\n{second.text}" and page.pen_width == first.pen_width
    assert page.sources == first.sources + second.sources
    upper, lower = np.concatenate(page.strokes[:len(first.strokes)]), np.concatenate(page.strokes[len(first.strokes):])
    assert np.array_equal(upper, np.concatenate(first.strokes))  # the first line stays where it was written
    assert np.ptp(lower[:, 1]) == pytest.approx(first.height)  # the second as tall as the first
    assert lower[:, 1].min() - upper[:, 1].max() == pytest.approx(0.25 * first.height + first.pen_width)
    assert lower[:, 0].min() == pytest.approx(upper[:, 0].min())  # both lines start at the same margin
    image = page.on_pad()
    assert image.shape == page.size and image[-5:].max() == 0 and image[:, -5:].max() == 0


def test_isolated_digits_and_paper_versions(tiny, rng):
    digits = unipen.load_digits(tiny, sha256=None)
    alone = unipen.isolated(digits[:3])
    assert [pen.text for pen in alone] == [str(d.label) for d in digits[:3]]
    assert [pen.sources for pen in alone] == [(0,), (1,), (2,)]
    pad = alone[0].on_pad()
    paper = unipen.on_paper(pad, rng)
    assert paper.shape == pad.shape and paper.dtype == np.uint8
    ink, background = pad > 200, pad == 0
    assert paper[ink].mean() < 110 < 170 < paper[background].mean()  # dark ink on light paper
    assert paper[background].std() > 1  # noisy, as a photo


def test_ruled_and_squared_paper_print_lines_under_the_same_photo(tiny):
    line = unipen.strings(unipen.load_digits(tiny, sha256=None), 1, seed=3)[0]
    rows = np.concatenate([stroke[:, 1] for stroke in line.strokes])
    assert line.height == pytest.approx(rows.max() - rows.min()) and line.height > 0
    size = (400, 300)
    ruled = unipen.rulings(size, 100.0, np.random.default_rng(0))
    squared = unipen.rulings(size, 100.0, np.random.default_rng(0), squared=True)
    spacings = ((ruled, 0, (1.2, 1.6)), (squared, 0, (0.7, 1.0)), (squared, 1, (0.7, 1.0)))  # in heights
    for lines, across, (closest, farthest) in spacings:
        marked = np.flatnonzero((lines > 0).all(axis=1 - across))  # rows (columns) lined from end to end
        starts = marked[np.diff(marked, prepend=-9) > 1]  # the first row (column) of each line
        assert len(starts) >= 2
        assert closest * 100 - 1 <= np.diff(starts).min() <= np.diff(starts).max() <= farthest * 100 + 1
        assert 0.2 <= lines.max() <= 0.6
    assert (ruled.max(axis=0) > 0).all() and (ruled.max(axis=1) == ruled.min(axis=1)).all()  # rows, side to side
    assert (squared > 0).mean() > (ruled > 0).mean()

    pad = line.on_pad()
    plain = unipen.on_paper(pad, np.random.default_rng(1))
    printed = unipen.rulings(pad.shape, line.height, np.random.default_rng(2), squared=True)
    photo = unipen.on_paper(pad, np.random.default_rng(1), printed)
    assert np.array_equal(unipen.on_paper(pad, np.random.default_rng(1), np.zeros_like(printed)), plain)
    blank, lines_only = pad == 0, (printed > 0) & (pad == 0)
    assert photo[lines_only].mean() < plain[lines_only].mean() - 20  # the lines show, darker than the paper
    assert photo[lines_only].mean() > photo[pad > 200].mean() + 20  # and lighter than the ink
    assert np.abs(photo[blank & ~lines_only].astype(int) - plain[blank & ~lines_only]).mean() < 15


def test_a_photo_on_a_desk_shows_the_same_sheet_within_a_darker_desk_beside_some_of_its_sides(tiny):
    import cv2

    line = unipen.strings(unipen.load_digits(tiny, sha256=None), 1, seed=3)[0]
    photo = unipen.on_paper(line.on_pad(), np.random.default_rng(1))
    paper = np.median(photo)
    shown = np.zeros(4, int)  # how often the desk shows above, below, left and right of the sheet
    for seed in range(20):
        on_desk = unipen.on_desk(photo, np.random.default_rng(seed))
        within = photo[3:-3, 3:-3]  # all but the sheet's edge, which the photo blurs
        match = cv2.matchTemplate(on_desk.astype(np.float32), within.astype(np.float32), cv2.TM_SQDIFF)
        left, top = cv2.minMaxLoc(match)[2]
        assert np.array_equal(on_desk[top:top + within.shape[0], left:left + within.shape[1]], within)
        beside = np.array([top - 3, on_desk.shape[0] - top - within.shape[0] - 3,
                           left - 3, on_desk.shape[1] - left - within.shape[1] - 3])  # pixels of desk each side
        assert (beside >= 0).all() and (beside > 0).any()
        shown += beside > 0
        desk = np.ones(on_desk.shape, bool)
        desk[top - 3:top + within.shape[0] + 3, left - 3:left + within.shape[1] + 3] = False
        assert on_desk[desk].mean() < paper - 30 and on_desk[desk].std() > 1  # darker than the paper, noisy
    assert (shown > 0).all() and (shown < 20).all()


def test_a_photo_taken_askew_shows_the_turned_sheet_and_the_desk_beyond_it(tiny):
    line = unipen.strings(unipen.load_digits(tiny, sha256=None), 1, seed=3)[0]
    photo = unipen.on_paper(line.on_pad(), np.random.default_rng(1))
    paper, (height, width) = float(np.median(photo)), photo.shape
    for seed in range(10):
        askew = unipen.askew(photo, np.random.default_rng(seed))
        rows, columns = askew.shape
        assert height <= rows <= height + width * np.sin(np.radians(8)) + 1  # turned 2-8 degrees, framed
        assert width <= columns <= width + height * np.sin(np.radians(8)) + 1
        corners = np.concatenate([askew[:3, :3], askew[:3, -3:], askew[-3:, :3], askew[-3:, -3:]], axis=None)
        assert np.count_nonzero(corners < paper - 30) >= 9  # the desk, darker, shows in a corner at least
        inside = askew[rows // 4:-rows // 4, columns // 4:-columns // 4]
        assert abs(np.median(inside) - paper) < 10  # the sheet, in the middle


def test_a_photo_taken_askew_holds_all_the_writing():
    photo = np.full((100, 400), 200, np.uint8)
    photo[2:6, 2:6] = photo[2:6, -6:-2] = photo[-6:-2, 2:6] = photo[-6:-2, -6:-2] = 10  # ink in its four corners
    least = 400 * np.sin(np.radians(2)) - 100 * (1 - np.cos(np.radians(2)))  # how much taller a turn of 2 makes it
    for seed in range(10):
        rows, columns = unipen.askew(photo, np.random.default_rng(seed)).shape
        assert rows >= 100 + least - 8  # the whole turned sheet, or near it: each corner's ink in the frame


def test_benchmark_without_data_says_so_in_one_line(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "real_strokes.py"), "--data",
                          str(tmp_path / "missing.jsonl.gz")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "missing.jsonl.gz" in lines[0] and "--data" in lines[0]


def test_benchmark_names_the_writers_misread_most_and_reads_the_others_apart(capsys, benchmark):
    real_strokes = benchmark("real_strokes")
    written = Counter({"aaa-000": 10, "aaa-001": 10, "bbb-000": 20})
    real_strokes.print_writers(Counter({"aaa-000": 3, "aaa-001": 0, "bbb-000": 1}), written)
    line = capsys.readouterr().out.strip()
    assert line.startswith("most misread writers: aaa-000 3 of 10, bbb-000 1 of 20;")  # a writer read right is not named
    assert line.endswith("the other 2 writers' strings: 96.67%")  # 29 of the other 30
    real_strokes.print_writers(Counter({"aaa-000": 0}), written)
    assert capsys.readouterr().out == ""  # nothing misread, nobody named


def test_benchmark_thins_each_stroke_to_one_point_in_k_and_keeps_its_last(benchmark):
    real_strokes = benchmark("real_strokes")
    stroke = np.column_stack([np.arange(10.0), np.zeros(10)])
    pen = unipen.PenString([stroke, stroke[:1], stroke[:2]], 3.0, "1", (20, 20), "aaa-000")
    thinned = real_strokes.thinned(pen, 4)
    assert [list(points[:, 0]) for points in thinned.strokes] == [[0, 4, 8, 9], [0], [0, 1]]
    assert (thinned.text, thinned.pen_width, thinned.size) == (pen.text, pen.pen_width, pen.size)


def test_benchmark_tells_strings_misread_in_company_from_those_whose_digits_misread_alone(capsys, benchmark):
    real_strokes = benchmark("real_strokes")
    alone_right = [True, True, False, True]  # digit 2 is misread alone
    lines = [SimpleNamespace(sources=sources) for sources in [(0, 1), (1, 3), (2, 3), (0, 3)]]
    real_strokes.print_alone(lines, [True, False, False, True], alone_right)
    assert capsys.readouterr().out.strip() == ("strings whose digits all read right alone: 75.00%; "
                                               "misread although each of their digits read right alone: 1")


def test_benchmark_reads_a_page_right_in_its_two_lines_only_and_a_string_in_any(benchmark):
    real_strokes = benchmark("real_strokes")
    readings = iter(["12\n34", "1234", "12\n34"])
    result = real_strokes.read_all(lambda item: SimpleNamespace(text=next(readings)),
                                   [SimpleNamespace(writer="aaa-000")] * 3, ["12\n34", "12\n34", "1234"])
    assert result["right"] == [True, False, True]  # a page read as one line is misread; a string in two is not
    assert result["confusions"] == Counter({"/ -> -": 1}) and result["digits"] == pytest.approx(8 / 12)


def test_report_figures_go_into_the_card_of_each_model_that_read(tmp_path, benchmark):
    """Each card keeps what it held, gains the figures under the method, and names the other model by checksum."""
    real_strokes = benchmark("real_strokes")
    models = {"candidate": tmp_path / "candidate.keras", "crnn": tmp_path / "crnn.keras"}
    for role, path in models.items():
        path.write_bytes(role.encode())
        path.with_suffix(".json").write_text(json.dumps({"model": role, "test_accuracy": 0.99}))
    result = {"count": 4, "strings": 0.75, "digits": 0.8, "per_class": np.linspace(0.5, 1.0, 10)}
    command = "python benchmarks/real_strokes.py"
    real_strokes.record_in_cards({"strings of 3-8, pad": result}, "auto", models, 7, command)
    crnn_card = json.loads(models["crnn"].with_suffix(".json").read_text())
    assert crnn_card["model"] == "crnn" and crnn_card["test_accuracy"] == 0.99
    entry = crnn_card["real_strokes"]["auto"]
    assert entry["half"] == "report" and entry["writers"] == 7 and entry["data_sha256"] == unipen.SHA256
    assert entry["sets"]["strings of 3-8, pad"]["string_accuracy"] == 0.75
    assert entry["sets"]["strings of 3-8, pad"]["per_class"][-1] == 1.0
    assert entry["read_with"] == {"candidate": {"file": "candidate.keras",
                                                "sha256": hashlib.sha256(b"candidate").hexdigest()}}
    assert set(json.loads(models["candidate"].with_suffix(".json").read_text())["real_strokes"]["auto"]["read_with"]) == {"crnn"}

    real_strokes.record_in_cards({"strings of 3-8, pad": result}, "crnn", {"crnn": models["crnn"]}, 7, "python ...")
    crnn_card = json.loads(models["crnn"].with_suffix(".json").read_text())
    assert set(crnn_card["real_strokes"]) == {"auto", "crnn"}  # each method's figures beside the other's
    assert crnn_card["real_strokes"]["crnn"]["read_with"] == {}


@pytest.mark.parametrize("options, message", [
    (["--card"], "use it with --half report"),
    (["--card", "--half", "report", "--quick"], "use it with --half report"),
    (["--card", "--half", "report", "--crnn", "elsewhere/crnn.keras"], "no model card elsewhere/crnn.json"),
])
def test_card_figures_are_the_report_halfs_of_a_reader_with_cards(tmp_path, options, message):
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "real_strokes.py"), *options],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 2 and message in run.stderr


# --- The shipped reader on real strokes -------------------------------------


@pytest.mark.parametrize("method", ["auto", "crnn", "contours"])
def test_shipped_cards_hold_the_report_halfs_figures_read_with_the_shipped_models(method, benchmark):
    """A model shipped without them, or beside another model than the one they were read with, fails here:
    ``python benchmarks/real_strokes.py --half report --method METHOD --card`` records them again."""
    from digitlab.card import read_card

    models = benchmark("real_strokes").models_that_read(method)
    for path in models.values():
        entry = read_card(path).get("real_strokes", {}).get(method)
        assert entry is not None, f"{path.name}'s card has no real-stroke figures for method {method!r}"
        assert entry["half"] == "report" and entry["data_sha256"] == unipen.SHA256
        assert set(entry["sets"]) == {"isolated digits, pad", "strings of 3-8, pad", "strings of 3-8, paper"}
        for other, read_with in entry["read_with"].items():
            assert read_with["sha256"] == hashlib.sha256(models[other].read_bytes()).hexdigest(), (
                f"{path.name}'s figures for {method!r} were read with another {read_with['file']} than the shipped one")


@pytest.mark.slow
def test_the_shipped_reader_reads_real_digits_drawn_on_the_pad(real_choose_half):
    from digitlab.reader import Reader

    reader = Reader.default()
    sample = real_choose_half[::17]  # 299 digits, every writer's share
    read = [reader.read(pen.on_pad()).text for pen in unipen.isolated(sample, seed=5)]
    right = sum(text == str(digit.label) for text, digit in zip(read, sample))
    assert right >= 0.94 * len(sample), f"{right}/{len(sample)} real digits read right"


@pytest.mark.slow
def test_two_lines_of_real_writing_close_together_read_as_two_lines(real_choose_half):
    from digitlab.reader import Reader

    reader = Reader.default()
    lines = unipen.strings(real_choose_half, 80, seed=11)
    pages = [first.over(second, 0.15) for first, second in zip(lines[0::2], lines[1::2])]  # 15 % of the height apart
    right = sum(reader.read_strokes(page.strokes, page.size, page.pen_width).text == page.text for page in pages)
    assert right >= 30, f"{right}/{len(pages)} pages of two lines read right"
