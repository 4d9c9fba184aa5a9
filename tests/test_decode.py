"""The segmentation graph: its best path on hand-built examples (a stub recognizer), and its pieces."""

from __future__ import annotations

import numpy as np
import pytest

from digitlab import decode
from digitlab.ink_pieces import MAX_PIECES, Piece, stroke_pieces
from digitlab.preprocess import normalize_digit
from digitlab.reader_memory import DrawingMemory


def _candidates(piece_count: int, max_pieces: int = MAX_PIECES) -> list[decode.Candidate]:
    blank = np.zeros((28, 28), np.float32)
    return [decode.Candidate(start, end, (start, 0, end - start, 1), blank)
            for start in range(piece_count) for end in range(start + 1, min(start + max_pieces, piece_count) + 1)]


def _scores(found, table: dict) -> np.ndarray:
    """One row of 11 probabilities per candidate: ``table[(start, end)] = (value, p)``, the rest
    of the mass on "not one digit"; runs not in the table are clearly not one digit."""
    rows = np.zeros((len(found), 11))
    for row, candidate in zip(rows, found):
        value, probability = table.get((candidate.start, candidate.end), (0, 0.001))
        row[value] = probability
        row[decode.NOT_A_DIGIT] = 1.0 - probability
    return rows


def _path(piece_count, found, table, digit_cost=0.0, skip_cost=0.0):
    return decode.best_path(piece_count, decode.recognizer_edges(found, _scores(found, table)), digit_cost, skip_cost)


def _read(edges) -> str:
    return "".join(str(value) for edge in edges for value in edge.values)


def test_best_path_groups_a_bar_with_its_body():
    # Pieces: a 5's body, its floating bar, a 2. The body alone reads 5 at 0.6, the bar alone 1 at 0.3;
    # body and bar together read 5 at 0.98.
    found = _candidates(3)
    table = {(0, 1): (5, 0.6), (1, 2): (1, 0.3), (0, 2): (5, 0.98), (2, 3): (2, 0.99), (1, 3): (2, 0.4)}
    path = _path(3, found, table)
    assert _read(path) == "52"
    assert [(edge.start, edge.end) for edge in path] == [(0, 2), (2, 3)]
    assert path[0].confidences == pytest.approx((0.98,))


def test_best_path_reads_a_speck_as_no_digit():
    found = _candidates(3)
    table = {(0, 1): (7, 0.99), (1, 2): (1, 0.02), (2, 3): (4, 0.99)}
    assert _read(_path(3, found, table)) == "74"


def test_best_path_splits_touching_digits_when_the_parts_read_better():
    found = _candidates(2)
    table = {(0, 1): (6, 0.95), (1, 2): (0, 0.97), (0, 2): (0, 0.2)}
    assert _read(_path(2, found, table)) == "60"
    table[(0, 2)] = (0, 0.99)  # the whole blob reads better as one wide 0
    assert _read(_path(2, found, table)) == "0"


def test_digit_cost_favours_fewer_digits():
    found = _candidates(2)
    table = {(0, 1): (1, 0.99), (1, 2): (1, 0.99), (0, 2): (1, 0.9)}
    assert _read(_path(2, found, table, digit_cost=0.0)) == "11"
    assert _read(_path(2, found, table, digit_cost=1.0)) == "1"


def test_skip_cost_keeps_ink_that_reads_as_a_digit_well_enough():
    # A two-stroke 4: its bent stroke alone is clearly no digit, its upright alone a clear 1;
    # both together read 4 at 0.9.
    found = _candidates(2)
    table = {(0, 1): (4, 0.01), (1, 2): (1, 0.99), (0, 2): (4, 0.9)}
    assert _read(_path(2, found, table, skip_cost=0.0)) == "1"
    assert _read(_path(2, found, table, skip_cost=1.0)) == "4"


def test_a_ten_class_recognizer_still_reads_every_piece():
    found = _candidates(2)
    probabilities = np.full((len(found), 10), 0.01)
    probabilities[:, 3] = 0.91
    edges = decode.recognizer_edges(found, probabilities)
    assert all(edge.values for edge in edges)  # without an 11th class nothing is read as "no digit"
    assert _read(decode.best_path(2, edges)) in {"3", "33"}


def test_a_string_edge_competes_with_the_recognizer_on_log_probability():
    found = _candidates(2)
    table = {(0, 1): (2, 0.7), (1, 2): (7, 0.6), (0, 2): (0, 0.1)}
    edges = decode.recognizer_edges(found, _scores(found, table))
    boxes = [(0, 0, 1, 1), (1, 0, 1, 1)]
    likely = decode.string_edge(0, 2, [2, 7], [0.9, 0.9], boxes, np.log(0.8))
    unlikely = decode.string_edge(0, 2, [2, 1], [0.5, 0.5], boxes, np.log(0.1))
    assert _read(decode.best_path(2, edges + [likely])) == "27"
    assert decode.best_path(2, edges + [likely]) == [likely]
    assert decode.best_path(2, edges + [unlikely]) != [unlikely]  # 0.7 x 0.6 beats 0.1


def test_a_string_pays_the_speck_price_for_each_piece_it_reads_as_no_digit():
    # Pieces a digit height (40 px) apart; the CRNN emitted one digit over the first.
    pieces = [_piece(0, 20), _piece(40, 20), _piece(120, 20)]
    assert decode.unread_pieces(pieces, [10.0], height=40) == 1  # the second is within reach, the third is not
    assert decode.unread_pieces(pieces, [10.0, 130.0], height=40) == 0
    # Two pieces: an 8 the recognizer reads at 0.9, and dust; the CRNN reads "8" at 0.5 near the first.
    found = _candidates(2)
    edges = decode.recognizer_edges(found, _scores(found, {(0, 1): (8, 0.9)}))
    reading_all = decode.string_edge(0, 2, [8], [0.7], [(0, 0, 20, 40)], np.log(0.5))
    skipping = decode.string_edge(0, 2, [8], [0.7], [(0, 0, 20, 40)], np.log(0.5), skipped=1)
    assert decode.best_path(2, edges + [reading_all]) == [reading_all]  # the dust would come free
    # Read as no digit by the string, the dust costs what it costs the recognizer's path to skip it.
    assert [(edge.start, edge.end, edge.values) for edge in decode.best_path(2, edges + [skipping])] == [
        (0, 1, (8,)), (1, 2, ())]


def test_best_path_refuses_mismatched_scores_and_gaps():
    found = _candidates(3)
    with pytest.raises(ValueError, match="rows"):
        decode.recognizer_edges(found, np.ones((len(found) - 1, 11)))
    gappy = [c for c in found if c.end < 3]  # nothing reaches the last boundary
    with pytest.raises(ValueError, match="connect"):
        decode.best_path(3, decode.recognizer_edges(gappy, np.full((len(gappy), 11), 0.1)))
    with pytest.raises(ValueError, match="does not fit"):
        decode.best_path(1, decode.recognizer_edges(found, np.full((len(found), 11), 0.1)))


def test_every_run_of_up_to_max_pieces_is_a_candidate():
    ink = np.zeros((20, 60), np.float32)
    masks = []
    for left in range(0, 60, 10):
        ink[5:15, left + 2:left + 8] = 1.0
        mask = np.zeros_like(ink, dtype=bool)
        mask[5:15, left + 2:left + 8] = True
        masks.append(mask)
    pieces = stroke_pieces(masks)
    found = decode.candidates(pieces, ink, height=10)
    assert len(pieces) == 6
    assert {(c.start, c.end) for c in found} == {(s, e) for s in range(6) for e in range(s + 1, min(s + 4, 6) + 1)}
    assert found[0].box == (2, 5, 6, 10)


def test_a_memory_of_candidates_gives_the_crops_cut_afresh_and_cuts_only_what_changed():
    rng = np.random.default_rng(0)
    ink = np.zeros((20, 60), np.float32)
    masks = []
    for left in range(0, 60, 10):  # six pieces of different ink
        ink[5:15, left + 2:left + 8] = rng.uniform(0.2, 1.0, (10, 6))
        mask = np.zeros_like(ink, dtype=bool)
        mask[5:15, left + 2:left + 8] = True
        masks.append(mask)
    pieces, memory = stroke_pieces(masks), DrawingMemory()

    def same_as_afresh(found, ink, height):
        afresh = decode.candidates(pieces, ink, height)
        return all(np.array_equal(a.crop, b.crop) and a.box == b.box for a, b in zip(found, afresh, strict=True))

    first = decode.candidates(pieces, ink, height=10, memory=memory)
    assert same_as_afresh(first, ink, 10)
    again = decode.candidates(pieces, ink, height=10, memory=memory)
    assert all(a.crop is b.crop for a, b in zip(first, again))  # remembered, not cut again
    with pytest.raises(ValueError, match="read-only"):
        again[0].crop[0, 0] = 1.0
    ink[5:15, 52:58] *= 0.5  # the last piece's ink changes: only the runs holding it are cut again
    changed = decode.candidates(pieces, ink, height=10, memory=memory)
    assert same_as_afresh(changed, ink, 10)
    assert [a.crop is b.crop for a, b in zip(first, changed)] == [c.end < len(pieces) for c in first]
    assert same_as_afresh(decode.candidates(pieces, ink, height=30, memory=memory), ink, 30)  # another height
    nothing_kept = DrawingMemory(candidates=0)
    assert same_as_afresh(decode.candidates(pieces, ink, height=10, memory=nothing_kept), ink, 10)


def test_a_piece_keeps_its_size_relative_to_the_digit_height():
    dash = np.zeros((10, 40), np.float32)
    dash[4:6, 5:15] = 1.0  # 10 px long, on a line whose digits are 40 px high
    alone, in_context = normalize_digit(dash), normalize_digit(dash, height=40)
    assert np.ptp(np.nonzero(alone.any(axis=0))[0]) + 1 == 20
    assert np.ptp(np.nonzero(in_context.any(axis=0))[0]) + 1 <= 7
    # A digit as tall as the line's digits is normalised exactly as without a height.
    digit = np.zeros((40, 30), np.float32)
    digit[:, 10:20] = 1.0
    assert np.array_equal(normalize_digit(digit), normalize_digit(digit, height=40))


# --- The shipped reader: outcomes on constructed lines, for pad strokes and for images -------------


def _floating_bar_fives(count: int = 2, height: float = 120, gap: float = 50):
    """Fives whose top bar is a stroke of its own, drawn clear of the body."""
    strokes = []
    for index in range(count):
        left = 40 + index * (0.6 * height + gap)
        bar = [(left + 0.25 * 0.6 * height, 40), (left + 0.95 * 0.6 * height, 40 - 0.02 * height)]
        body = [(left + 0.2 * 0.6 * height, 40 + 0.12 * height), (left + 0.14 * 0.6 * height, 40 + 0.45 * height)]
        body += [(left + (0.45 + 0.45 * np.cos(a)) * 0.6 * height, 40 + (0.7 + 0.3 * np.sin(a)) * height)
                 for a in np.radians(np.linspace(235, 500, 16))]
        strokes += [body, bar]
    return strokes


@pytest.fixture(scope="module")
def shipped():
    from digitlab.reader import Reader

    return Reader.default()


@pytest.mark.slow
@pytest.mark.parametrize("text, strokes", [
    ("1704", "continental"),     # a flagged 1 with a foot, a crossed 7, a slashed 0, a two-stroke 4
    ("4141", "plain"),           # two-stroke 4s beside ones
    ("55", "floating bars"),     # a 5's bar is a stroke of its own, clear of the body
])
def test_the_graph_groups_strokes_into_digits(shipped, text, strokes):
    from digitlab.strokes import digit_strokes, rasterize, strokes_size

    drawn = _floating_bar_fives() if strokes == "floating bars" else digit_strokes(text, style=strokes)
    size = strokes_size(drawn)
    assert shipped.read_strokes(drawn, size, pen_width=10).text == text
    assert shipped.read(rasterize(drawn, size, 10)).text == text  # the same ink as an image: blobs as pieces


@pytest.mark.slow
def test_a_pad_wider_than_the_working_side_finds_each_stroke_on_the_shrunk_page(shipped):
    from digitlab.preprocess import MAX_WORKING_SIDE
    from digitlab.strokes import digit_strokes, strokes_size

    drawn = digit_strokes("4141", height=700, spacing=200)  # two-stroke 4s: which stroke is where matters
    size = strokes_size(drawn)
    assert size[1] > MAX_WORKING_SIDE
    assert shipped.read_strokes(drawn, size, pen_width=60).text == "4141"


@pytest.mark.slow
def test_the_graph_reads_past_specks(shipped, mnist):
    import cv2

    from digitlab.synth import make_dataset

    sequence = make_dataset(1, length=5, seed=4, mnist=mnist, gap=0.5, scale=3.0)[0]
    image = sequence.image.copy()
    ink = 255 if image.mean() < 128 else 0
    for x, y in [(5, 5), (image.shape[1] - 8, image.shape[0] - 6), (image.shape[1] // 2, 4)]:
        cv2.circle(image, (x, y), 2, ink, -1)
    assert shipped.read(image).text == sequence.text


@pytest.mark.slow
def test_the_eleventh_class_rejects_pairs_and_pieces_of_test_digits(shipped, mnist):
    from digitlab.evaluate import predict_probabilities
    from digitlab.non_digits import NOT_A_DIGIT, digit_pair, digit_piece

    _, (x_test, _) = mnist
    rng = np.random.default_rng(5)
    pairs = [digit_pair(a, b, rng) for a, b in zip(x_test[:500], x_test[500:1000])]
    pieces = [digit_piece(digit, rng) for digit in x_test[1000:1500]]
    for name, examples in (("pairs", pairs), ("pieces", pieces)):
        rejected = predict_probabilities(shipped.candidate_model, np.stack(examples)).argmax(axis=1) == NOT_A_DIGIT
        assert rejected.mean() >= 0.95, f"{name}: {rejected.mean():.1%} rejected"


def _piece(x: int, width: int) -> Piece:
    return Piece.from_mask(np.ones((40, width), bool), (x, 0, width, 40), (x, 0, width, 40))


def test_a_crnn_reading_of_separate_pieces_takes_their_exact_boxes():
    pieces = [_piece(0, 20), _piece(40, 8), _piece(52, 10), _piece(90, 20)]  # a 5's body and bar: two pieces
    alignment = ((2, 0, 30, 40), (38, 0, 30, 40), (84, 0, 30, 40))  # approximate
    edge = decode.string_edge(0, 4, (7, 5, 1), (0.9, 0.9, 0.9), alignment, -1.0)
    assert decode.string_boxes(edge, pieces) == [(0, 0, 20, 40), (40, 0, 22, 40), (90, 0, 20, 40)]


def test_a_crnn_reading_of_one_blob_holding_two_digits_keeps_the_alignment_boxes():
    alignment = ((0, 0, 25, 40), (25, 0, 25, 40))
    edge = decode.string_edge(0, 1, (2, 7), (0.9, 0.9), alignment, -1.0)
    assert decode.string_boxes(edge, [_piece(0, 50)]) == list(alignment)


def test_a_crnn_that_fails_on_its_thread_fails_the_reading(monkeypatch):
    import cv2

    from digitlab import crnn
    from digitlab.preprocess import prepare
    from digitlab.segment import segment

    def broken(model, strips, **options):
        raise ValueError("the CRNN could not read")

    def recognize(crops):  # a stub recognizer: every candidate equally likely anything
        return np.full((len(crops), 11), 1 / 11)

    image = np.zeros((60, 120), np.uint8)
    cv2.line(image, (20, 10), (20, 50), 255, 4)
    cv2.circle(image, (80, 30), 18, 255, 4)
    page = prepare(image)
    monkeypatch.setattr(crnn, "read_lines", broken)
    with pytest.raises(ValueError, match="could not read"):
        decode.lattices(page, segment(page.mask), recognize, crnn_model=object())
    assert all(lattice.path for lattice in decode.lattices(page, segment(page.mask), recognize))  # no CRNN


@pytest.mark.slow
def test_the_prices_benchmark_searches_again_the_graphs_the_reader_searched(benchmark):
    """``benchmarks/choose_prices.py`` records each graph as the reader builds it, from a pad's strokes and
    from an image, and searches it again at other prices: at the reader's own, it reads what the reader read."""
    from digitlab.strokes import digit_strokes, rasterize, strokes_size

    choose_prices = benchmark("choose_prices")
    reader = choose_prices.RecordingReader.default()
    drawn = digit_strokes("1704", style="continental")
    size = strokes_size(drawn)
    ways = {"pad": lambda strokes: reader.read_strokes(strokes, size, pen_width=10),
            "image": lambda strokes: reader.read(rasterize(strokes, size, 10))}
    for way, read in ways.items():
        (graphs,) = choose_prices.graphs(reader, [drawn], read, way, total=1)
        assert len(graphs) == 1, way  # one line, one graph
        assert choose_prices.text(graphs, reader.digit_cost, reader.skip_cost) == read(drawn).text == "1704", way
