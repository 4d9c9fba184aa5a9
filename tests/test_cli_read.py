"""``digitlab read``: outputs and exit codes, in-process and in one real subprocess; and every command's help."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitlab.cli import main
from digitlab.synth import SAMPLES_DIR


@pytest.fixture(scope="session")
def model_file(quick_model, tmp_path_factory):
    from digitlab.card import save_model

    path = tmp_path_factory.mktemp("cli") / "quick.keras"
    save_model(quick_model, path)
    return str(path)


@pytest.fixture
def blank_png(tmp_path):
    path = tmp_path / "blank.png"
    Image.fromarray(np.zeros((140, 280), np.uint8)).save(path)
    return str(path)


def test_plain_output_is_the_text(model_file, capsys):
    assert main(["read", str(SAMPLES_DIR / "4096.png"), "--model", model_file]) == 0
    out, err = capsys.readouterr()
    assert len(out.strip()) == 4 and out.strip().isdigit()
    assert err == ""


def test_two_lines_print_as_two_lines(model_file, capsys):
    assert main(["read", str(SAMPLES_DIR / "two_lines.png"), "--model", model_file]) == 0
    assert [len(line) for line in capsys.readouterr().out.splitlines()] == [4, 4]


def test_json_output(model_file, capsys):
    assert main(["read", str(SAMPLES_DIR / "scan_31415.png"), "--json", "--model", model_file]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"text", "digits", "lines"}
    assert len(result["text"]) == 5 and result["lines"] == [result["text"]]
    assert [digit["value"] for digit in result["digits"]] == [int(c) for c in result["text"]]
    for digit in result["digits"]:
        assert 0 <= digit["confidence"] <= 1
        assert len(digit["box"]) == 4 and all(isinstance(v, int) for v in digit["box"])


def test_annotate_writes_an_rgb_image_of_the_same_size(model_file, tmp_path, capsys):
    out = tmp_path / "annotated.png"
    sample = SAMPLES_DIR / "4096.png"
    assert main(["read", str(sample), "--annotate", str(out), "--model", model_file]) == 0
    annotated = Image.open(out)
    assert annotated.mode == "RGB" and annotated.size == Image.open(sample).size


def test_annotate_makes_its_folder_and_refuses_a_name_that_is_no_image(model_file, tmp_path, capsys):
    sample = str(SAMPLES_DIR / "4096.png")
    out = tmp_path / "new" / "folder" / "annotated.jpg"
    assert main(["read", sample, "--annotate", str(out), "--model", model_file]) == 0
    assert Image.open(out).format == "JPEG"
    capsys.readouterr()
    assert main(["read", sample, "--annotate", str(tmp_path / "annotated.txt"), "--model", model_file]) == 2
    assert capsys.readouterr() == ("", f"digitlab read: --annotate {tmp_path / 'annotated.txt'}: not an image "
                                       "file name (use .png or .jpg) nor a folder\n")


def test_several_images_are_read_each_line_after_its_name(model_file, blank_png, tmp_path, capsys):
    """As grep names its files: every line read starts with its image's name; what cannot be read is one line on
    stderr, the others are read all the same, and the exit status says that one failed."""
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"hello, I am not a PNG\n")
    four, two_lines = str(SAMPLES_DIR / "4096.png"), str(SAMPLES_DIR / "two_lines.png")
    assert main(["read", four, str(bad), two_lines, blank_png, "--model", model_file]) == 2
    out, err = capsys.readouterr()
    names = [line.rsplit(": ", 1)[0] for line in out.splitlines()]
    assert names == [four, two_lines, two_lines]
    assert [len(line.rsplit(": ", 1)[1]) for line in out.splitlines()] == [4, 4, 4]
    assert err == (f"digitlab read: {bad}: not an image file (PIL cannot identify it).\n"
                   f"digitlab read: {blank_png}: no digits found\n")
    assert main(["read", four, two_lines, "--json", "--model", model_file]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [result["image"] for result in results] == [four, two_lines]
    assert [len(result["lines"]) for result in results] == [1, 2]


def test_several_images_are_annotated_each_in_a_folder(model_file, tmp_path, capsys):
    images = [SAMPLES_DIR / "4096.png", SAMPLES_DIR / "scan_31415.png"]
    folder = tmp_path / "marked"  # made, as a file's folder is
    assert main(["read", *map(str, images), "--annotate", str(folder), "--model", model_file]) == 0
    assert sorted(path.name for path in folder.iterdir()) == ["4096_annotated.png", "scan_31415_annotated.png"]
    for image in images:
        annotated = Image.open(folder / f"{image.stem}_annotated.png")
        assert annotated.mode == "RGB" and annotated.size == Image.open(image).size
    capsys.readouterr()
    assert main(["read", str(images[0]), "--annotate", str(folder), "--model", model_file]) == 0  # one, in a folder
    assert capsys.readouterr().err == ""
    assert Image.open(folder / "4096_annotated.png").size == Image.open(images[0]).size


def test_annotating_several_images_where_they_cannot_go_is_refused_before_any_model_loads(tmp_path, monkeypatch,
                                                                                          capsys):
    from digitlab.reader import Reader

    def no_model(cls, **options):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(Reader, "default", classmethod(no_model))
    images = [str(SAMPLES_DIR / "4096.png"), str(SAMPLES_DIR / "scan_31415.png")]
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    twins = [tmp_path / "one" / "4096.png", tmp_path / "two" / "4096.png"]
    for twin in twins:
        twin.parent.mkdir()
        twin.write_bytes((SAMPLES_DIR / "4096.png").read_bytes())
    cases = [(images, tmp_path / "out.png",
              "one image file, and 2 images were given: give a folder to annotate each in"),
             (images, a_file, "a file, not a folder: give a folder to annotate in, or a file name such as OUT.png"),
             (list(map(str, twins)), tmp_path / "marked", f"{twins[0]} and {twins[1]} would both be annotated as "
                                                          f"{tmp_path / 'marked' / '4096_annotated.png'}")]
    for given, annotate, message in cases:
        assert main(["read", *given, "--annotate", str(annotate)]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err == f"digitlab read: --annotate {annotate}: {message}\n", err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a_file", "one", "two"]  # nothing written


def test_blank_image_prints_nothing_and_says_so(model_file, blank_png, capsys):
    assert main(["read", blank_png, "--model", model_file]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err.strip() == "no digits found"
    assert main(["read", blank_png, "--json", "--model", model_file]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"text": "", "digits": [], "lines": []}
    assert "no digits found" in err


def test_unsure_digits_are_counted_on_stderr(tmp_path, capsys):
    """A page of blurred noise has no writing: whatever it reads, the reader is unsure of some of it, and says so."""
    import cv2

    noise = cv2.GaussianBlur(np.random.default_rng(0).normal(128, 60, (240, 320)).astype(np.float32), (0, 0), 1.5)
    path = tmp_path / "noise.png"
    Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8)).save(path)
    assert main(["read", str(path), "--json"]) == 0
    out, err = capsys.readouterr()
    confidences = [digit["confidence"] for digit in json.loads(out)["digits"]]
    unsure = sum(confidence < 0.8 for confidence in confidences)
    assert unsure > 0
    assert err == (f"digitlab read: {path}: unsure of {unsure} digit{'s' if unsure > 1 else ''} of "
                   f"{len(confidences)} (confidence under 80%); --json gives each digit's confidence\n")


@pytest.mark.parametrize("content", [b"", b"hello, I am not a PNG\n", "truncated"])
def test_bad_files_give_one_line_and_exit_2(tmp_path, capsys, content):
    path = tmp_path / "bad.png"
    if content == "truncated":
        content = (SAMPLES_DIR / "scan_31415.png").read_bytes()[:500]
    path.write_bytes(content)
    assert main(["read", str(path)]) == 2  # fails before any model is loaded
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "bad.png" in err


def test_missing_file_and_missing_model(tmp_path, capsys):
    assert main(["read", str(tmp_path / "nowhere.png")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["read", str(tmp_path)]) == 2
    assert "a folder, not an image file" in capsys.readouterr().err
    assert main(["read", str(SAMPLES_DIR / "4096.png"), "--model", str(tmp_path / "none.keras")]) == 2
    assert "Model file not found" in capsys.readouterr().err


def test_shipped_model_reads_the_sample(capsys):
    assert main(["read", str(SAMPLES_DIR / "4096.png")]) == 0
    assert capsys.readouterr() == ("4096\n", "")  # sure of every digit: nothing on stderr


def test_a_real_subprocess(model_file):
    command = [sys.executable, "-m", "digitlab.cli", "read", str(SAMPLES_DIR / "4096.png"),
               "--json", "--model", model_file]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["digits"]) == 4
    assert done.stderr == ""  # TensorFlow's start-up noise stays quiet


def test_method_chooses_the_reader_and_json_says_which_read_each_digit(model_file, capsys):
    assert main(["read", str(SAMPLES_DIR / "scan_31415.png"), "--json", "--method", "contours",
                 "--model", model_file]) == 0
    digits = json.loads(capsys.readouterr().out)["digits"]
    assert len(digits) == 5 and {digit["method"] for digit in digits} == {"contours"}
    assert main(["read", str(SAMPLES_DIR / "scan_31415.png"), "--json", "--method", "crnn",
                 "--model", model_file]) == 0
    assert {digit["method"] for digit in json.loads(capsys.readouterr().out)["digits"]} == {"crnn"}
    with pytest.raises(SystemExit) as exit_info:
        main(["read", str(SAMPLES_DIR / "scan_31415.png"), "--method", "guess"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'guess'" in capsys.readouterr().err


def test_an_animation_is_read_from_its_first_frame_and_says_so(model_file, tmp_path, capsys):
    first = Image.open(SAMPLES_DIR / "4096.png").convert("L")
    path = tmp_path / "animated.gif"
    first.save(path, save_all=True, append_images=[Image.new("L", first.size, shade) for shade in (128, 255)])
    assert main(["read", str(path), "--model", model_file]) == 0
    out, err = capsys.readouterr()
    assert len(out.strip()) == 4  # the first frame's digits
    assert err.strip() == f"digitlab read: {path}: the image has 3 frames (an animation or several pages): only the first is read."


def test_a_page_of_more_pieces_than_a_read_takes_says_what_was_left_unread(model_file, monkeypatch, capsys):
    from digitlab import segment

    monkeypatch.setattr(segment, "MAX_BLOBS", 3)  # the sample's 4096 is four pieces of ink
    assert main(["read", str(SAMPLES_DIR / "4096.png"), "--model", model_file]) == 0
    out, err = capsys.readouterr()
    assert len(out.strip()) == 3  # the three largest
    assert err.strip() == (f"digitlab read: {SAMPLES_DIR / '4096.png'}: the image has 4 pieces of ink the size of a "
                           "digit or of part of one: only the 3 largest are read.")


def test_annotate_never_destroys_a_file_and_explains_in_one_line(model_file, tmp_path, capsys):
    sample = tmp_path / "sample.png"
    sample.write_bytes((SAMPLES_DIR / "4096.png").read_bytes())
    kept = tmp_path / "kept.xbm"  # XBM cannot hold an RGB image: the write fails
    kept.write_bytes(b"old contents")
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    cases = [(sample, "is an image being read"), (kept, "cannot write it"), (blocker / "out.png", "cannot write it")]
    for annotate, message in cases:
        assert main(["read", str(sample), "--annotate", str(annotate), "--model", model_file]) == 2, annotate
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert sample.read_bytes() == (SAMPLES_DIR / "4096.png").read_bytes()
    assert kept.read_bytes() == b"old contents"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a_file", "kept.xbm", "sample.png"]  # no leftovers


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), PermissionError(13, "Permission denied")],
                         ids=["full disk", "no permission"])
def test_an_annotation_that_fails_half_written_keeps_the_old_file(model_file, tmp_path, monkeypatch, capsys, failure):
    # A full disk or a folder we may not write to fails mid-write; root ignores permissions, so the failure is
    # made where the bytes go: Pillow writes part of the image, then the system refuses the rest.
    def save_half(image, path, *args, **kwargs):
        Path(path).write_bytes(b"half an image")
        raise failure

    out = tmp_path / "out.png"
    out.write_bytes(b"old contents")
    monkeypatch.setattr(Image.Image, "save", save_half)
    assert main(["read", str(SAMPLES_DIR / "4096.png"), "--annotate", str(out), "--model", model_file]) == 2
    err = capsys.readouterr().err
    assert "cannot write it" in err and failure.strerror in err and len(err.strip().splitlines()) == 1, err
    assert out.read_bytes() == b"old contents"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.png"]  # no half-written file left


def test_a_model_that_is_no_digit_classifier_is_refused_in_one_line(tmp_path, capsys):
    import keras

    from digitlab.card import save_model

    inputs = keras.Input((32, 32, 3))
    wrong = keras.Model(inputs, keras.layers.Dense(5)(keras.layers.Flatten()(inputs)))
    path = tmp_path / "wrong.keras"
    save_model(wrong, path)
    assert main(["read", str(SAMPLES_DIR / "4096.png"), "--model", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "takes (32, 32, 3) and gives 5 outputs" in err


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_a_missing_or_damaged_crnn_is_one_line_not_a_traceback(model_file, tmp_path, monkeypatch, capsys, damage):
    from digitlab import crnn

    if damage == "truncated":
        whole = Path(crnn.reading.DEFAULT_MODEL).read_bytes()
        (tmp_path / "crnn.keras").write_bytes(whole[:len(whole) // 2])
    monkeypatch.setattr(crnn.reading, "DEFAULT_MODEL", tmp_path / "crnn.keras")
    assert main(["read", str(SAMPLES_DIR / "4096.png"), "--model", model_file, "--method", "crnn"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "crnn.keras" in err


def test_a_missing_candidate_cnn_is_one_line_not_a_traceback(model_file, tmp_path, monkeypatch, capsys):
    from digitlab import model

    monkeypatch.setattr(model, "CANDIDATE_MODEL", tmp_path / "candidate_cnn.keras")
    assert main(["read", str(SAMPLES_DIR / "4096.png"), "--model", model_file]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "candidate_cnn.keras" in err


def test_what_is_no_image_or_too_large_gives_one_line_before_any_model_loads(tmp_path, monkeypatch, capsys):
    """A FIFO, a link loop and /dev/zero are not "no such file" (nor opened: a FIFO would hang the reader);
    an image over the pixel budget is refused from its header."""
    import os

    from digitlab import image_files
    from digitlab.reader import Reader

    def no_model(cls, **options):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(Reader, "default", classmethod(no_model))
    monkeypatch.setattr(image_files, "MAX_PIXELS", 100 * 100)
    fifo, loop, large = tmp_path / "pipe.png", tmp_path / "loop.png", tmp_path / "large.png"
    os.mkfifo(fifo)
    os.symlink(loop, loop)
    Image.fromarray(np.zeros((101, 100), np.uint8)).save(large)
    cases = [(fifo, "a named pipe (FIFO), not an image file."),
             (loop, "a symbolic link that loops back on itself, not an image file."),
             ("/dev/zero", "a device, not an image file."),
             (large, "100x101 pixels (0 million) is more than the 0 million this reader decodes; scale it down first.")]
    for path, message in cases:
        assert main(["read", str(path)]) == 2
        assert capsys.readouterr() == ("", f"digitlab read: {path}: {message}\n")


def test_a_truncated_model_file_is_called_truncated_not_missing(tmp_path, capsys):
    from digitlab.model import DEFAULT_MODEL

    whole = DEFAULT_MODEL.read_bytes()
    path = tmp_path / "cut.keras"
    path.write_bytes(whole[:len(whole) // 2])
    assert main(["read", str(SAMPLES_DIR / "4096.png"), "--model", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not a complete .keras file" in err and "truncated" in err
    assert "not found" not in err.lower()


@pytest.mark.parametrize("command", [[], ["data"], ["train"], ["ensemble"], ["evaluate"], ["read"]])
def test_help_is_plain_text_for_a_terminal(command, capsys):
    """The help a user reads has no markup of the docstrings it may come from (``name``, :func:`name`)."""
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    help_text = capsys.readouterr().out
    assert "usage: digitlab" in help_text
    assert "``" not in help_text and not re.search(r":(func|mod|class|data):", help_text)
