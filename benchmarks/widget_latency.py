"""How long the draw-and-read pad takes, in Python, from the last stroke to the answer, and where the time goes.

Eight digits are on the pad; the last stroke ends (a mouse-up) and the pad
hands its strokes to the reader, which sizes MNIST's pen, rasterizes and
segments them, scores every run of strokes that might be a digit while the
CRNN reads each line whole on a thread of its own, and finds the best
reading (:mod:`digitlab.decode`); the pad updates its display ("Read as I
draw"). The time runs from the mouse-up; the stroke's mouse moves, each
drawn as it comes while the student draws, are timed apart.
The pad's reader remembers the candidates it classified when it read the
other strokes, a moment before, so only those the last stroke made are
classified (``Reader(remember_crops=...)``), and the strokes it drew and
the candidates it cut from them, so only the last stroke is drawn and only
the candidates holding it are cut (:class:`digitlab.reader_memory.DrawingMemory`).
Each step is timed inside the pad's own reads (:func:`timed_steps`), not on
a copy of them. Target: at most 25 ms on 2 CPU cores. ``--height`` writes
the digits smaller (or larger) than their 110 px, with a pen and gaps in
proportion: small writing is read drawn larger (:func:`digitlab.strokes.drawing_scale`).

    python benchmarks/widget_latency.py [--repeats 50] [--height 110] [--model PATH]

Prints the median of each step and of the whole path. Taught in
``notebooks/07_draw_and_read.ipynb``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

TARGET_MILLISECONDS = 25.0
TEXT = "17040962"  # eight digits, a two-stroke 4 among them
HEIGHT = 110  # px, on the pad's 240: written as most people write on it


@contextlib.contextmanager
def timed_steps(steps, seconds: dict):
    """While open, each step ``(name, owner, attribute)`` (a function or method looked up on ``owner`` when
    called) adds the time its calls take to ``seconds[name]``; the originals are put back on leaving."""
    originals = [(owner, attribute, getattr(owner, attribute)) for _, owner, attribute in steps]

    def timing(name, function):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
        return timed

    try:
        for (name, owner, attribute), (_, _, function) in zip(steps, originals):
            setattr(owner, attribute, timing(name, function))
        yield seconds
    finally:
        for owner, attribute, function in originals:
            setattr(owner, attribute, function)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--height", type=float, default=HEIGHT,
                        help=f"the digits' height in pad pixels (default {HEIGHT}; at most 200)")
    parser.add_argument("--model", help="a .keras file (default: the shipped model)")
    args = parser.parse_args(argv)

    from digitlab import crnn, decode, ink_pieces
    from digitlab.card import cpus
    from digitlab.reader import PAD_REMEMBERS, Reader
    from digitlab.strokes import DEFAULT_PEN_WIDTH, PEN_WIDTHS, digit_strokes
    from digitlab.widget import DigitPad

    if not 0 < args.height <= 200:
        parser.error(f"--height must be more than 0 and at most 200 pad pixels, got {args.height}.")
    scale = args.height / HEIGHT  # the pen, the gaps and the margins follow the digits' height
    pen_width = int(min(max(round(DEFAULT_PEN_WIDTH * scale), PEN_WIDTHS[0]), PEN_WIDTHS[1]))
    reader = Reader.from_file(args.model) if args.model else Reader.default()
    pad = DigitPad(reader=Reader(reader.model, candidate_model=reader.candidate_model, crnn_model=reader.crnn_model,
                                 remember_crops=PAD_REMEMBERS), pen_width=pen_width, auto_read=False)
    strokes = digit_strokes(TEXT, origin=(20, 60), height=args.height, spacing=25 * scale)
    *earlier, last = strokes
    pad.load_strokes(earlier)
    steps = (  # the steps on the pad's own thread, one after the other
        ("MNIST's pen: sizing the strokes", Reader, "mnist_pen_width"),
        ("threshold + segment", Reader, "find_boxes"),
        ("strokes into pieces", ink_pieces, "stroke_lines"),
        ("candidates cut and normalised", decode, "candidates"),
        ("candidate CNN (new crops only)", Reader, "classify"),
        ("display", DigitPad, "show"),
    )
    beside = ("CRNN: each line read whole", crnn, "read_lines")  # on the decoder's thread, beside the candidates
    timed = (*steps, beside)

    def send(event, x, y):
        pad.canvas._handle_custom_msg({"event": event, "x": x, "y": y}, [])

    def draw_last_stroke():
        """The mouse draws the last stroke, but for its mouse-up (which makes the pad read, "Read as I draw")."""
        (x, y), *rest = last
        send("mouse_down", x, y)
        for x, y in rest:
            send("mouse_move", x, y)
        return x, y

    def undo_last_stroke():
        """As before the last stroke was drawn: the pad has read the other strokes ("Read as I draw"), and its
        reader remembers those candidates only."""
        pad.auto_read.value = False
        if len(pad.strokes) == len(strokes):
            pad.undo()
        pad.reader.forget()
        pad.read()
        pad.auto_read.value = True

    print(f"{len(TEXT)} digits ({TEXT}), {args.height:g} px tall, pen {pen_width} px, on a {pad.size[1]}x{pad.size[0]} "
          f"pad ({cpus()}), median of {args.repeats} last strokes:")
    undo_last_stroke()
    send("mouse_up", *draw_last_stroke())  # a warm-up
    totals, moves, per_step = [], [], {name: [] for name, _, _ in timed}
    for _ in range(args.repeats):
        undo_last_stroke()
        started = time.perf_counter()
        end = draw_last_stroke()
        moves.append(1000 * (time.perf_counter() - started))
        with timed_steps(timed, {}) as seconds:
            started = time.perf_counter()
            send("mouse_up", *end)
            totals.append(1000 * (time.perf_counter() - started))
        for name in per_step:
            per_step[name].append(1000 * seconds.get(name, 0.0))
    print(f"  {'(the stroke drawn, before its mouse-up)':38s} {statistics.median(moves):7.1f} ms")
    for name, milliseconds in per_step.items():
        aside = "  (beside the candidates and their CNN)" if name == beside[0] else ""
        print(f"  {name:38s} {statistics.median(milliseconds):7.1f} ms{aside}")
    rest = [total - sum(per_step[name][index] for name, _, _ in steps) for index, total in enumerate(totals)]
    print(f"  {'the rest (graph search, waiting, ...)':38s} {statistics.median(rest):7.1f} ms")
    total = statistics.median(totals)
    print(f"  {'pad: last stroke -> answer shown':38s} {total:7.1f} ms")
    if pad.reading is None or pad.reading.text != TEXT:
        print(f"WARNING: the pad read {pad.reading.text if pad.reading else None!r}, not {TEXT!r}.")
    verdict = "within" if total <= TARGET_MILLISECONDS else "OVER"
    print(f"Last stroke to answer: {total:.1f} ms, {verdict} the {TARGET_MILLISECONDS:.0f} ms target.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
