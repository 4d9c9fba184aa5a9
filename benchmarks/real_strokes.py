"""Reading accuracy on real pen strokes (UNIPEN): digits and strings written by people, not composed from MNIST.

Builds, seeded, from one half of the writers of ``digits.jsonl.gz``
(:mod:`digitlab.unipen`):

- every digit of the half alone, drawn as the pad draws it (pen widths over
  the pad slider's range, heights 40-200 px), white on black;
- ``--n`` strings of 3-8 digits, each of ONE writer (writers weighted by their digits), laid out left to right
  with gaps of 10-60 % of the height, on the pad;
- the same strings as ink on paper (dark on light, blurred, noisy), as a photo;
- with ``--turn DEGREES``, both sets of strings written and photographed at a slant: turned by that many
  degrees, one string up and the next down;
- with ``--rulings``, the paper set again on ruled and on squared paper (:func:`digitlab.unipen.rulings`): the
  same photos, with the paper's printed lines under the ink.
- with ``--desk``, the paper set again on a desk (:func:`digitlab.unipen.on_desk`): the same photos, showing
  the desk the sheet lies on beside one to four of its sides; and once more taken a little turned
  (:func:`digitlab.unipen.askew`), the desk at the frame's corners or beside the sheet (with ``--rulings`` too,
  the ruled and the squared sets on a desk and askew as well).
- with ``--two-lines``, the strings two to a page, the second written under the first, as tall, with 10-40 %
  of their height of paper between the two lines' ink (:meth:`digitlab.unipen.PenString.over`), on the pad and
  on paper: a page's two lines must read as two lines, each right.
- with ``--every K``, the pad set again with one point in K of each stroke kept (and its last): the points a
  quicker hand, or a pointer reported less often, leaves farther apart, drawn along the smooth curve through
  them as the pad draws its points (:func:`digitlab.strokes.pen_path`).

and reads the pad's sets from their strokes (``Reader.read_strokes``, as the
pad does) and the paper set from its images (``Reader.read``, as the command
line does). It prints, for each set: string accuracy, digit accuracy (position by
position; a wrong count misses them all), accuracy per class, the most
frequent confusions (aligned with :class:`difflib.SequenceMatcher`: "5 -> 52"
is a 5 read with an extra 2), the writers whose strings were misread most, with
the accuracy on everyone else's (a change that reads one writer's habit better
is not a cure for the world's), and the median time per read. For the strings
it also prints how many would read right if each digit read as it does alone
(the isolated set holds the same digits), and how many misread strings hold
only digits read right alone: what reading in company adds to the
recognizers' own errors.

The writers come in two fixed halves (:func:`digitlab.unipen.split_writers`):
choose every setting and model on ``--half choose`` (the default), and run
``--half report`` once, after the choice is made. Never train on these
digits. The data: ``--data PATH`` or ``$DIGITLAB_UNIPEN``, else
``../shared/unipen-dev/digits.jsonl.gz`` beside the repository; without it
the script says so in one line and exits with status 2.

Data: I. Guyon, L. Schomaker, R. Plamondon, M. Liberman, S. Janet, "UNIPEN
project of on-line data exchange and recognizer benchmarks", ICPR 1994
(DOI 10.5281/zenodo.1195803).

With ``--card`` (``--half report`` only, the whole benchmark as the reader
reads by default) the figures also go into the model card of each model that
read (``real_strokes`` -> the method: for "auto" the candidate CNN's and the
CRNN's cards, for "crnn" the CRNN's, for "contours" the digit CNN's), with
the other models it read with, the data's checksum and this command: run it
for each method once a model is shipped. With ``--json OUT.json`` the
figures go to a file as well, with which items each set read right, so that
two readings of the same items compare item by item
(``benchmarks/compare_recipes.py`` reads its networks so).

Run: python benchmarks/real_strokes.py [--half choose|report] [--n 1000] [--method auto|contours|crnn]
[--turn DEGREES] [--rulings] [--desk] [--two-lines] [--every K] [--cnn MODEL.keras] [--crnn MODEL.keras] [--candidate MODEL.keras] [--data PATH] [--quick]
[--card] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import statistics
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from digitlab import unipen
from digitlab.card import card_path
from digitlab.data import DataError
from digitlab.files import check_writable, write_json
from digitlab.model import ModelFileError
from digitlab.reader import METHODS, Reader

#: The seed of the photos' paper, ink, blur and noise: one seed for every paper set, so that plain, ruled and
#: squared paper photograph the same strings alike and their readings pair item by item.
PHOTO_SEED = 2
#: ``--two-lines``: the paper between a page's two lines, as a fraction of their height (drawn from this range,
#: seeded by :data:`PAGE_SEED`): closer than people mostly leave, as on the pad's 240 px.
LINE_GAPS, PAGE_SEED = (0.1, 0.4), 7


def thinned(pen: unipen.PenString, every: int) -> unipen.PenString:
    """``pen`` with one point in ``every`` of each stroke kept, and each stroke's last (``--every``)."""
    strokes = [np.vstack([stroke[:-1:every], stroke[-1:]]) for stroke in pen.strokes]
    return replace(pen, strokes=strokes)


def read_all(read, items, truths, name: str = "reading") -> dict:
    """``read`` every item (a :class:`~digitlab.unipen.PenString`: ``read`` takes its strokes as the pad does,
    or draws it on paper); count strings, digits per class, confusions and misread strings per writer, time
    each read, and say which items were read right. A string of one line is right with its digits in any
    lines, a page of two lines (``truth`` holds a newline, shown "/" among the confusions) only in those two.
    A progress bar named ``name`` shows on a terminal."""
    right = []
    per_class = np.zeros((10, 2), dtype=np.int64)  # [right, total] per digit written
    confusions, seconds = Counter(), []
    misread, written = Counter(), Counter()  # strings per writer
    for item, truth in tqdm(zip(items, truths), total=len(truths), desc=name, leave=False, disable=None):
        started = time.perf_counter()
        text = read(item).text
        seconds.append(time.perf_counter() - started)
        if "\n" not in truth:  # one line written: its digits, in whatever lines they were read
            text = text.replace("\n", "")
        right.append(text == truth)
        written[item.writer] += 1
        misread[item.writer] += text != truth
        for position, character in enumerate(truth):
            if character != "\n":
                per_class[int(character)] += (len(text) == len(truth) and text[position] == character, 1)
        confusions.update(differences(truth.replace("\n", "/"), text.replace("\n", "/")))
    digits_right, digits = per_class.sum(axis=0)
    return {"strings": sum(right) / len(truths), "right": right, "digits": digits_right / digits,
            "per_class": per_class[:, 0] / np.maximum(per_class[:, 1], 1), "confusions": confusions,
            "milliseconds": 1000 * statistics.median(seconds), "count": len(truths),
            "misread": misread, "written": written}


def differences(truth: str, text: str) -> list[str]:
    """Each place ``text`` differs from ``truth``, as "written -> read" (an insertion keeps the digit before)."""
    found = []
    for kind, i1, i2, j1, j2 in difflib.SequenceMatcher(None, truth, text, autojunk=False).get_opcodes():
        if kind == "equal":
            continue
        if kind == "insert" and i1 > 0:
            i1, j1 = i1 - 1, j1 - 1
        found.append(f"{truth[i1:i2] or '-'} -> {text[j1:j2] or '-'}")
    return found


def report(name: str, result: dict, top: int) -> None:
    print(f"{name}: {result['count']} images, strings {result['strings']:.2%}, digits {result['digits']:.2%}, "
          f"median {result['milliseconds']:.1f} ms per read")
    print("  per class: " + "  ".join(f"{digit}: {accuracy:.1%}" for digit, accuracy in enumerate(result["per_class"])))
    common = result["confusions"].most_common(top)
    if common:
        print("  most frequent errors: " + ", ".join(f"{pair} ({count})" for pair, count in common))
    print_writers(result["misread"], result["written"])


def print_alone(lines, right: list[bool], alone_right: list[bool]) -> None:
    """How the strings would read if each digit read as it does alone (``alone_right``, by the digit's place in
    the digits the strings were built from), and how many misread strings hold only digits read right alone:
    errors of reading digits in company (joined ink, grouping) or on paper, not of recognizing one alone."""
    each_right = [all(alone_right[index] for index in line.sources) for line in lines]
    in_company = sum(each and not read_right for each, read_right in zip(each_right, right))
    print(f"  strings whose digits all read right alone: {sum(each_right) / len(lines):.2%}; "
          f"misread although each of their digits read right alone: {in_company}")


def print_writers(misread: Counter, written: Counter, shown: int = 3) -> None:
    """The writers with the most misread strings, and the string accuracy of all the others."""
    worst = [(writer, count) for writer, count in misread.most_common(shown) if count]
    if not worst:
        return
    first = worst[0][0]
    others = sum(written.values()) - written[first]
    others_right = others - (sum(misread.values()) - misread[first])
    print("  most misread writers: " + ", ".join(f"{writer} {count} of {written[writer]}" for writer, count in worst)
          + f"; the other {len(written) - 1} writers' strings: "
          + (f"{others_right / others:.2%}" if others else "none"))


# --- The figures in files and in the model cards ---------------------------


def reading_arguments(argv: list[str]) -> list[str]:
    """The command line's arguments without ``--json`` and its file: what decides the figures."""
    kept, arguments = [], iter(argv)
    for argument in arguments:
        if argument == "--json":
            next(arguments, None)
        elif not argument.startswith("--json="):
            kept.append(argument)
    return kept


def figures_file(results: dict[str, dict], half: str, writers: int, arguments: list[str]) -> dict:
    """What ``--json`` writes: each set's figures, and which of its items read right (in the order read, the same
    for every reading with the same ``arguments`` but the models, so two readings compare item by item)."""
    return {"half": half, "writers": writers, "arguments": arguments, "data_sha256": unipen.SHA256,
            "sets": {name: {**set_figures(result), "median_milliseconds": round(result["milliseconds"], 1),
                            "right": [bool(right) for right in result["right"]]}
                     for name, result in results.items()}}


def set_figures(result: dict) -> dict:
    """One set's figures as files and cards keep them (:func:`read_all`'s ``result``; fractions to 4 places)."""
    return {"count": result["count"], "string_accuracy": round(result["strings"], 4),
            "digit_accuracy": round(result["digits"], 4),
            "per_class": [round(float(accuracy), 4) for accuracy in result["per_class"]]}


def models_that_read(method: str, cnn=None, crnn=None, candidate=None) -> dict[str, Path]:
    """The files of the models a reader of ``method`` reads with (the shipped ones unless given), by role."""
    from digitlab import crnn as crnn_module
    from digitlab.model import CANDIDATE_MODEL, DEFAULT_MODEL

    crnn_path = Path(crnn or crnn_module.DEFAULT_MODEL)
    if method == "auto":
        return {"candidate": Path(candidate or CANDIDATE_MODEL), "crnn": crnn_path}
    if method == "crnn":
        return {"crnn": crnn_path}
    return {"cnn": Path(cnn or DEFAULT_MODEL)}


def record_in_cards(results: dict[str, dict], method: str, models: dict[str, Path], writers: int,
                    command: str) -> None:
    """Write the report half's figures (``results``: :func:`read_all`'s, by set) into the card of each of
    ``models`` under ``real_strokes`` -> ``method``, naming the other models of that reading by file and
    sha256 (a card's figures hold for that company only)."""
    from digitlab.card import library_versions, read_card, write_card

    checksums = {role: hashlib.sha256(path.read_bytes()).hexdigest() for role, path in models.items()}
    figures = {name: set_figures(result) for name, result in results.items()}
    for role, path in models.items():
        card = read_card(path)
        card.setdefault("real_strokes", {})[method] = {
            "half": "report", "writers": writers, "sets": figures,
            "read_with": {other: {"file": other_path.name, "sha256": checksums[other]}
                          for other, other_path in models.items() if other != role},
            "data_sha256": unipen.SHA256, "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": library_versions(), "command": command,
        }
        write_card(card, path)
        print(f"Recorded these figures in {card_path(path)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--half", choices=unipen.HALVES, default="choose",
                        help="the writers to read: choose (default; make choices here) or report (once, at the end)")
    parser.add_argument("--n", type=int, default=1000, help="strings per set (default 1000)")
    parser.add_argument("--method", choices=METHODS, default="auto", help="the reader's method (default auto)")
    parser.add_argument("--cnn", metavar="MODEL.keras", help="read with this CNN instead of the shipped one")
    parser.add_argument("--crnn", metavar="MODEL.keras", help="read with this CRNN instead of the shipped one")
    parser.add_argument("--candidate", metavar="MODEL.keras",
                        help="method auto: read with this 11-class recognizer instead of the shipped one")
    parser.add_argument("--digit-cost", type=float, metavar="COST",
                        help="method auto: the price per digit read (default digitlab.decode.DIGIT_COST)")
    parser.add_argument("--turn", type=float, default=0.0, metavar="DEGREES",
                        help="strings written at a slant: turned this much, up and down in turn (default 0)")
    parser.add_argument("--data", metavar="PATH", help=f"digits.jsonl.gz (default ${unipen.ENV_VAR}, "
                                                       "else ../shared/unipen-dev/ beside the repository)")
    parser.add_argument("--rulings", action="store_true",
                        help="also read the paper strings on ruled and on squared paper")
    parser.add_argument("--desk", action="store_true",
                        help="also read the paper strings photographed on a desk, beside the sheet and askew")
    parser.add_argument("--two-lines", action="store_true",
                        help="also read the strings two to a page, one under the other, on the pad and on paper")
    parser.add_argument("--every", type=int, metavar="K",
                        help="also read the pad strings with one point in K of each stroke kept, and its last")
    parser.add_argument("--top", type=int, default=12, help="confusions to list per set (default 12)")
    parser.add_argument("--quick", action="store_true", help="200 digits and 30 strings: a smoke test")
    parser.add_argument("--card", action="store_true",
                        help="with --half report: also record the figures in the cards of the models that read")
    parser.add_argument("--json", metavar="OUT.json",
                        help="also write the figures, and which items read right, to this file")
    args = parser.parse_args()
    if args.n < 1:
        parser.error(f"--n must be at least 1, got {args.n}.")
    if args.every is not None and args.every < 2:
        parser.error(f"--every must be at least 2 (every point is the pad set itself), got {args.every}.")
    if args.card and (args.half != "report" or args.quick or args.turn or args.rulings or args.desk
            or args.two_lines or args.every or args.digit_cost is not None):
        parser.error("--card records the report half's figures of the reader as it reads by default: use it with "
                     "--half report, without --quick, --turn, --rulings, --desk, --two-lines, --every or --digit-cost.")
    cards = models_that_read(args.method, args.cnn, args.crnn, args.candidate) if args.card else {}
    missing = [str(card_path(path)) for path in cards.values() if not card_path(path).is_file()]
    if missing:
        parser.error(f"--card: no model card {' or '.join(missing)} to record the figures in.")
    if args.json:
        try:
            check_writable(args.json)  # found out now, not after the reading
        except OSError as error:
            parser.error(f"--json: cannot write {args.json} ({error.strerror or error}).")
    try:
        digits = unipen.writers_half(unipen.load_digits(args.data), args.half)
    except DataError as error:
        print(f"real_strokes: {error}", file=sys.stderr)
        return 2
    n = 30 if args.quick else args.n
    alone = digits[:: max(1, len(digits) // 200)] if args.quick else digits

    from digitlab import crnn, model

    try:
        cnn = model.load_model(args.cnn) if args.cnn else model.load_default()
        crnn_model = crnn.load_model(args.crnn) if args.crnn else None
        candidate_model = model.load_model(args.candidate) if args.candidate else None
    except ModelFileError as error:
        print(f"real_strokes: {error}", file=sys.stderr)
        return 2
    reader = Reader(cnn, method=args.method, crnn_model=crnn_model, candidate_model=candidate_model,
                    digit_cost=args.digit_cost)

    writers = len({digit.writer for digit in digits})
    print(f"Real pen strokes (UNIPEN), the {args.half!r} half: {len(digits)} digits of {writers} writers; "
          f"method {args.method!r}, CNN {args.cnn or 'shipped'}, CRNN {args.crnn or 'shipped'}"
          + (f"; strings turned by {args.turn:g} degrees, up and down in turn" if args.turn else ""))
    lines = [line.turned(args.turn if index % 2 else -args.turn) if args.turn else line
             for index, line in enumerate(unipen.strings(digits, n))]

    def on_pad(pen: unipen.PenString):  # the pad hands the reader its strokes
        return reader.read_strokes(pen.strokes, pen.size, pen.pen_width)

    def photographed(printed: str = "", desk: str = ""):
        """A reader of the strings' photos on paper (:data:`PHOTO_SEED`): on "ruled" or "squared" paper, its
        printed lines under the ink; ``desk`` "beside", showing the desk the sheet lies on beside its sides, or
        "askew", taken a little turned, the desk at the frame's corners or beside the sheet. The same strings
        make the same photos in each set, seeded apart from what the set adds."""
        photo_rng, lines_rng = np.random.default_rng(PHOTO_SEED), np.random.default_rng(3 + (printed == "squared"))
        desk_rng = np.random.default_rng(5 if desk == "beside" else 6)
        on_desk = {"": lambda photo, rng: photo, "beside": unipen.on_desk, "askew": unipen.askew}[desk]

        def read(pen: unipen.PenString):  # images are drawn as they are read: memory holds one at a time
            lines = unipen.rulings(pen.size, pen.height, lines_rng, printed == "squared") if printed else None
            return reader.read(on_desk(unipen.on_paper(pen.on_pad(), photo_rng, lines), desk_rng))
        return read

    texts, each_alone = [line.text for line in lines], "isolated digits, pad"
    sets = {
        each_alone: (on_pad, unipen.isolated(alone), [str(d.label) for d in alone]),
        "strings of 3-8, pad": (on_pad, lines, texts),
    }
    if args.every:
        sets[f"strings of 3-8, pad, 1 point in {args.every}"] = (
            lambda pen: on_pad(thinned(pen, args.every)), lines, texts)
    papers = ("", "ruled ", "squared ") if args.rulings else ("",)
    desks = {"": "", "beside": " on a desk", "askew": " askew on a desk"} if args.desk else {"": ""}
    for desk, where in desks.items():
        for printed in papers:
            sets[f"strings of 3-8, {printed}paper{where}"] = (photographed(printed.strip(), desk), lines, texts)
    if args.two_lines:
        gaps = np.random.default_rng(PAGE_SEED).uniform(*LINE_GAPS, size=len(lines) // 2)
        pages = [first.over(second, gap) for first, second, gap in zip(lines[0::2], lines[1::2], gaps)]
        page_texts = [page.text for page in pages]
        sets["two lines, pad"] = (on_pad, pages, page_texts)
        sets["two lines, paper"] = (photographed(), pages, page_texts)
    results = {}
    for name, (read, items, truths) in sets.items():
        results[name] = read_all(read, items, truths, name)
        report(name, results[name], args.top)
        if items is lines and alone is digits:  # every digit was read alone too (not so with --quick)
            print_alone(lines, results[name]["right"], results[each_alone]["right"])
    if args.card:
        record_in_cards(results, args.method, cards, writers,
                        " ".join(["python", "benchmarks/real_strokes.py", *sys.argv[1:]]))
    if args.json:
        write_json(figures_file(results, args.half, writers, reading_arguments(sys.argv[1:])), args.json, indent=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
