"""How long the draw-and-read pad takes, in Python, from the last stroke to the answer.

Eight digits are on the pad; the last stroke ends (a mouse-up) and the pad
hands its strokes to the reader, which rasterizes and segments them, scores
every run of strokes that might be a digit and finds the best reading
(:mod:`digitlab.decode`); the pad updates its display ("Read as I draw").
The pad's reader remembers the candidates it classified when it read the
other strokes, a moment before, so only those the last stroke made are
classified (``Reader(remember_crops=...)``); the steps above the pad's line
are each timed from scratch. Target: at most 25 ms on 2 CPU cores.

    python benchmarks/widget_latency.py [--repeats 50] [--model PATH]

Prints the median of each step and of the whole path. Taught in
``notebooks/07_draw_and_read.ipynb``.
"""

from __future__ import annotations

import argparse
import statistics
import time

TARGET_MILLISECONDS = 25.0
TEXT = "17040962"  # eight digits, a two-stroke 4 among them


def median_milliseconds(function, repeats: int, setup=None) -> float:
    """Median wall time of ``function()`` in milliseconds, after one warm-up call.

    ``setup()``, if given, runs before each call, untimed.
    """
    setup = setup or (lambda: None)
    setup()
    function()
    timings = []
    for _ in range(repeats):
        setup()
        started = time.perf_counter()
        function()
        timings.append(1000 * (time.perf_counter() - started))
    return statistics.median(timings)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--model", help="a .keras file (default: the shipped model)")
    args = parser.parse_args(argv)

    import numpy as np

    from digitlab import decode
    from digitlab.preprocess import prepare
    from digitlab.reader import PAD_REMEMBERS, Reader
    from digitlab.segment import segment
    from digitlab.strokes import digit_strokes, rasterize
    from digitlab.widget import DigitPad

    reader = Reader.from_file(args.model) if args.model else Reader.default()  # each step from scratch
    pad = DigitPad(reader=Reader(reader.model, candidate_model=reader.candidate_model, crnn_model=reader.crnn_model,
                                 remember_crops=PAD_REMEMBERS), auto_read=False)  # as the pad's own reader
    strokes = digit_strokes(TEXT, origin=(20, 60), height=110, spacing=25)
    *earlier, last = strokes
    pad.load_strokes(earlier)
    image = rasterize(strokes, pad.size, pad.pen.value)
    page, segmentation = reader.find_boxes(image)
    lines = decode.stroke_lines(page, segmentation, strokes, pad.pen.value)
    crops = np.stack([candidate.crop for line, pieces in enumerate(lines)
                      for candidate in decode.candidates(pieces, page.ink, decode.line_height(segmentation, line))])

    def send(event, x, y):
        pad.canvas._handle_custom_msg({"event": event, "x": x, "y": y}, [])

    def draw_last_stroke():
        """The mouse draws the last stroke; its mouse-up makes the pad read ("Read as I draw")."""
        (x, y), *rest = last
        send("mouse_down", x, y)
        for x, y in rest:
            send("mouse_move", x, y)
        send("mouse_up", x, y)

    def undo_last_stroke():
        """As before the last stroke was drawn: the pad has read the other strokes ("Read as I draw"), and its
        reader remembers those candidates only."""
        pad.auto_read.value = False
        if len(pad.strokes) == len(strokes):
            pad.undo()
        pad.reader.forget()
        pad.read()
        pad.auto_read.value = True

    steps = {
        "rasterize (OpenCV)": lambda: rasterize(strokes, pad.size, pad.pen.value),
        "threshold + segment": lambda: segment(prepare(image).mask),
        "strokes into pieces": lambda: decode.stroke_lines(page, segmentation, strokes, pad.pen.value),
        f"recognize {len(crops)} candidates": lambda: reader.classify(crops, reader.candidate_model),
        "reader.read_strokes (all of the above)": lambda: reader.read_strokes(strokes, pad.size, pad.pen.value),
    }
    print(f"{len(TEXT)} digits ({TEXT}) on a {pad.size[1]}x{pad.size[0]} pad, median of {args.repeats}:")
    for name, function in steps.items():
        print(f"  {name:34s} {median_milliseconds(function, args.repeats):7.1f} ms")
    total = median_milliseconds(draw_last_stroke, args.repeats, setup=undo_last_stroke)
    print(f"  {'pad: last stroke -> answer shown':34s} {total:7.1f} ms")
    if pad.reading is None or pad.reading.text != TEXT:
        print(f"WARNING: the pad read {pad.reading.text if pad.reading else None!r}, not {TEXT!r}.")
    verdict = "within" if total <= TARGET_MILLISECONDS else "OVER"
    print(f"Last stroke to answer: {total:.1f} ms, {verdict} the {TARGET_MILLISECONDS:.0f} ms target.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
