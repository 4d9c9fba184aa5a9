"""Read a handwritten digit string: ``Reader.default().read(image).text``.

Taught in ``notebooks/06_segmenting_sequences.ipynb`` (and used by the
draw-and-read widget). Three methods:

- ``"contours"`` (notebook 06): segment, classify each digit with the CNN
  (:mod:`digitlab.contours`);
- ``"crnn"`` (notebook 08): each line read whole by the CRNN (:mod:`digitlab.crnn`),
  no segmentation of digits; boxes are approximate (from the CTC alignment);
- ``"auto"`` (the default, notebook 06): the ink is cut into pieces (a pad's
  strokes, or blobs and the parts of wide blobs), and every way of grouping
  neighbouring pieces into digits is scored by a CNN that can also answer
  "not one digit"; each line is also read whole by the CRNN. The reading is
  the most probable path through those groupings and readings
  (:mod:`digitlab.decode`).

The contour method runs four steps, so a notebook can show them one at a time:

1. :meth:`Reader.find_boxes`: :func:`digitlab.preprocess.prepare` then
   :func:`digitlab.segment.segment`;
2. :func:`digitlab.contours.options`: every candidate digit normalised as
   MNIST (28x28), including the pieces of each candidate cut of touching digits;
3. :meth:`Reader.classify`: all crops of one image in ONE batched call (and
   one more for the shifted copies of the crops it is unsure of);
4. :func:`digitlab.contours.assemble`: for touching digits keep the cut the
   classifier is most confident about, then build the :class:`Reading`.

Every method reads a page whose ink, if thicker for its digits' height than
MNIST's strokes (a marker), was thinned first (:meth:`Reader.read_page`).

Errors: :class:`~digitlab.preprocess.ImageError` (a ``ValueError``) for files
that are not images and for NaN/inf pixels; ``TypeError`` for inputs that
are not a path, a PIL image or a numpy array.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from digitlab import contours, decode, ink_pieces
from digitlab.preprocess import ImageError, Page, check_polarity, check_threshold, drawn_page, normalize_digit, prepare
from digitlab.reader_memory import CropMemory, DrawingMemory, crop_keys
from digitlab.reading import UNSURE_BELOW, Digit, Reading, reading_of, to_input_pixels
from digitlab.segment import Segmentation, segment
from digitlab.stroke_width import MNIST_STROKE_WIDTH, thin_ink
from digitlab.strokes import DEFAULT_PEN_WIDTH, MNIST_PEN, drawing_scale, enlarged, rasterize
from digitlab.tilt import LEVEL_FROM_DEGREES, Levelled, line_tilt, turned_strokes

__all__ = ["Digit", "ImageError", "Reader", "Reading", "UNSURE_BELOW"]

METHODS = ("contours", "crnn", "auto")
#: The most crops one model call classifies: a line of digits takes one call, a page of thousands of specks
#: several, each taking about 70 MB while it runs (1,024 crops: 190 MB) instead of growing with the page. Calls
#: of 128 crops and more run equally fast per crop (about 3.5 a millisecond on 2 cores): larger ones only cost memory.
CROPS_PER_CALL = 256
#: One-pixel shifts (rows, then columns) averaged with each crop (``average_shifts``).
SHIFTS = ((1, 1), (-1, 1), (1, 2), (-1, 2))
#: ``average_shifts`` classifies the shifted copies only of crops read below this confidence on their own.
SHIFTS_BELOW = 0.99
#: How many crops' probabilities (per model, the most recent) the pad's reader remembers: the pad reads all its
#: strokes again after each new one, and classifies only the candidates the new stroke made.
PAD_REMEMBERS = 4096
#: A pad's digit height, for MNIST's pen (:meth:`Reader.mnist_pen_width`), is measured on its drawing shrunk to at
#: most this many pixels a side: a third of the time of a full-size segmentation, the height within a pixel or two.
SIZING_SIDE = 400


class Reader:
    """Reads digit strings with a 28x28 MNIST classifier, contour segmentation and a CRNN.

    ``Reader.default()`` uses the shipped models; ``Reader(model)`` any Keras
    model with MNIST's input and 10 softmax outputs. ``method`` is one of
    :data:`METHODS` (see the module docstring); ``crnn_model`` defaults to the
    shipped CRNN (:func:`digitlab.crnn.load_default`), loaded when a method
    first needs it. ``polarity`` and ``threshold`` go to
    :func:`digitlab.preprocess.prepare`.
    ``average_shifts`` (test-time augmentation) also classifies each crop
    the CNN reads below :data:`SHIFTS_BELOW` moved one pixel up, down, left
    and right, and averages the five predictions: on 5-digit MNIST test
    strings it removed about a quarter of the string errors.
    ``remember_crops`` (0: none) keeps the probabilities of that many recent
    crops per model, so reading nearly the same ink again (a pad, after
    each stroke) classifies only what changed. Leave it 0 while the models'
    weights may change (a model still training), or call :meth:`forget`
    after they did: remembered probabilities are those of the old weights.
    """

    def __init__(self, model, method: str = "auto", polarity: str = "auto", threshold: str = "otsu",
                 average_shifts: bool = True, crnn_model=None, candidate_model=None,
                 digit_cost: float | None = None, skip_cost: float | None = None, remember_crops: int = 0):
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
        check_polarity(polarity)
        check_threshold(threshold)
        _check_digit_classifier(model)
        self.model = model
        self.method = method
        self.polarity = polarity
        self.threshold = threshold
        self.average_shifts = average_shifts
        self._crnn_model = crnn_model
        self._candidate_model = candidate_model
        self.digit_cost = decode.DIGIT_COST if digit_cost is None else digit_cost
        self.skip_cost = decode.SKIP_COST if skip_cost is None else skip_cost
        if remember_crops < 0:
            raise ValueError(f"remember_crops must be 0 or more, got {remember_crops}.")
        self._remembered = CropMemory(remember_crops)
        self._drawings = DrawingMemory()  # what it drew never goes stale, unlike what a model read

    @property
    def crnn_model(self):
        """The CRNN of methods "crnn" and "auto" (the shipped one unless given)."""
        if self._crnn_model is None:
            from digitlab import crnn

            self._crnn_model = crnn.load_default()
        return self._crnn_model

    @property
    def candidate_model(self):
        """The recognizer of method "auto", with an 11th class "not one digit" (the shipped one unless given)."""
        if self._candidate_model is None:
            from digitlab.model import load_candidate_model

            self._candidate_model = load_candidate_model()
        return self._candidate_model

    @classmethod
    def default(cls, **options) -> Reader:
        """A reader with the shipped model (:func:`digitlab.model.load_default`)."""
        from digitlab.model import load_default

        return cls(load_default(), **options)

    @classmethod
    def from_file(cls, path: str | Path, **options) -> Reader:
        """A reader with the model saved at ``path``."""
        from digitlab.model import load_model

        return cls(load_model(path), **options)

    # --- Reading ----------------------------------------------------------

    def read(self, image) -> Reading:
        """Read the digits in ``image`` (a path, a PIL image or a numpy array).

        Lines that tilt (:func:`digitlab.tilt.line_tilt`) are read on the page
        turned level (:class:`digitlab.tilt.Levelled`); boxes stay in the input's pixels.
        """
        page, segmentation = self.find_boxes(image)
        return self._read_level(page, segmentation, self.polarity)

    def _read_level(self, page: Page, segmentation: Segmentation, polarity: str) -> Reading:
        """:meth:`read_page`, on the page turned level where its lines tilt (its ink found with ``polarity``)."""
        tilt = line_tilt(segmentation)
        if abs(tilt) < LEVEL_FROM_DEGREES:
            return self.read_page(page, segmentation)
        levelled = Levelled.of(page, tilt, polarity, self.threshold)
        return levelled.read_back(self.read_page(levelled.level, segment(levelled.level.mask)))

    def read_page(self, page: Page, segmentation: Segmentation) -> Reading:
        """Read a prepared page, segmented (:meth:`find_boxes`), by this reader's method, its ink first thinned where
        thicker than MNIST's strokes (:func:`digitlab.stroke_width.thin_ink`): a photo has no strokes to draw again
        with MNIST's pen, as :meth:`read_strokes` does, but its ink can be made about as thin."""
        if segmentation.digit_height:
            page = thin_ink(page, MNIST_STROKE_WIDTH * segmentation.digit_height)
        if self.method == "auto":
            return self.read_graph(page, segmentation)
        if self.method == "crnn":
            return self.read_crnn(page, segmentation)
        candidates = contours.options(page, segmentation)
        crops = [crop for options in candidates for pieces in options for crop, _ in pieces]
        probabilities = self.classify(np.stack(crops)) if crops else np.zeros((0, 10), np.float32)
        return contours.assemble(page, segmentation, candidates, probabilities)

    def read_crnn(self, page: Page, segmentation: Segmentation) -> Reading:
        """Method "crnn": each line's ink (its segments' blobs and their soft edges only, so dropped
        specks stay out) read whole by the CRNN, all lines in one batched call
        (:func:`digitlab.crnn.read_lines`)."""
        from digitlab import crnn

        strips, origins = [], []
        for line in range(segmentation.line_count):
            # The line's blobs with a pixel of soft edge (the threshold cut it off; the CNN's crops keep it,
            # and the CRNN's training strips have it); specks no segment claimed stay out.
            segments = [seg for seg in segmentation.segments if seg.line == line]
            box = decode.union_box([seg.box for seg in segments])
            strip, origin = decode.ink_strip(page, segmentation.components, box,
                                             [label for seg in segments for label in seg.labels])
            strips.append(strip)
            origins.append(origin)
        readings = crnn.read_lines(self.crnn_model, strips) if strips else []
        digits = []
        for line, (origin, reading) in enumerate(zip(origins, readings)):
            digits.extend(self._crnn_digits(page, line, origin, reading))
        return reading_of(digits, page)

    @staticmethod
    def _crnn_digits(page: Page, line: int, origin: tuple[int, int], line_reading) -> list[Digit]:
        """A line's digits as the CRNN read them, boxes from its alignment (``origin``: the strip's corner)."""
        x0, y0 = origin
        digits = []
        for value, confidence, (x, y, w, h) in zip(line_reading.values, line_reading.confidences,
                                                   line_reading.boxes):
            box = (x0 + x, y0 + y, w, h)
            crop = normalize_digit(_cut(page.ink, box))
            digits.append(Digit(value=int(value), confidence=float(confidence),
                                box=to_input_pixels(box, page.scale), crop=crop, line=line, method="crnn"))
        return digits

    def read_strokes(self, strokes, size: tuple[int, int], pen_width=None) -> Reading:
        """Read a pad's ``strokes`` (lists of (x, y) pixels on a pad of ``size`` = (height, width)).

        The strokes are read as if drawn with MNIST's pen (:meth:`mnist_pen_width`):
        the recognizers learned MNIST's stroke thickness, and a pen much
        thicker fills a narrow 8 or joins a 1's flag to its stem, one much
        thinner leaves hairlines that MNIST never had; and small writing is drawn larger, until that pen is
        :data:`digitlab.strokes.THINNEST_PEN` wide (the boxes still in the pad's pixels). Method "auto" takes
        the strokes themselves as the pieces it groups into digits
        (:func:`digitlab.ink_pieces.stroke_lines`), turned level when their lines
        tilt, as :meth:`read` turns photos; the other methods read the
        strokes' image, as :meth:`read` would. Only the strokes and candidates
        the reader has not drawn and cut lately are drawn and cut (:class:`digitlab.reader_memory.DrawingMemory`).
        """
        strokes = list(strokes)
        drawn_with = DEFAULT_PEN_WIDTH if pen_width is None else pen_width
        pen_width = self.mnist_pen_width(strokes, size, drawn_with)
        canvas = rasterize(strokes, size, pen_width, memory=self._drawings)
        scale = drawing_scale(pen_width)
        if scale == 1:
            page, segmentation = self.find_boxes(canvas, drawn=True)
            reading = self._read_drawn(page, segmentation, strokes, size, pen_width, memory=self._drawings)
        else:  # small writing: its part of the pad drawn larger, read there, its boxes brought back onto the pad
            placed, placed_size, placed_pens, move = enlarged(strokes, pen_width, scale)
            placed_canvas = rasterize(placed, placed_size, placed_pens, memory=self._drawings)
            placed_page, placed_segmentation = self.find_boxes(placed_canvas, drawn=True)
            placed_reading = self._read_drawn(placed_page, placed_segmentation, placed, placed_size, placed_pens,
                                              memory=self._drawings)
            reading = Levelled(drawn_page(canvas, method=self.threshold), placed_page, move).read_back(placed_reading)
        thinner_by = float(np.mean(drawn_with)) - float(np.mean(pen_width)) if strokes else 0.0
        return reading.with_boxes_grown(thinner_by / 2, size)

    def _read_drawn(self, page: Page, segmentation: Segmentation, strokes, size: tuple[int, int], pen_width,
                    memory=None) -> Reading:
        """A pad's ``strokes`` drawn on ``page`` (a canvas of ``size``, with ``pen_width``), read by this reader's
        method: method "auto" with the strokes as its pieces, turned level where their lines tilt."""
        if self.method != "auto":  # the strokes' image, as read() reads an image (its ink: light on a black canvas)
            return self._read_level(page, segmentation, "light_on_dark")
        tilt = line_tilt(segmentation)
        if abs(tilt) < LEVEL_FROM_DEGREES:
            lines = ink_pieces.stroke_lines(page, segmentation, strokes, pen_width, memory=memory)
            return self.read_graph(page, segmentation, lines, memory=memory)
        # As read() does, with the strokes themselves turned level.
        level_strokes, canvas, turn = turned_strokes(strokes, size, -tilt)
        level_page, level_segmentation = self.find_boxes(rasterize(level_strokes, canvas, pen_width), drawn=True)
        lines = ink_pieces.stroke_lines(level_page, level_segmentation, level_strokes, pen_width)
        return Levelled(page, level_page, turn).read_back(self.read_graph(level_page, level_segmentation, lines))

    def mnist_pen_width(self, strokes, size: tuple[int, int], pen_width):
        """The pen width (pad pixels) that draws ``strokes`` as thick, for their digits' height, as MNIST's
        digits are: :data:`digitlab.strokes.MNIST_PEN` of the typical digit height, found by segmenting
        the strokes as drawn with ``pen_width`` (one, or one per stroke) and shrunk to at most
        :data:`SIZING_SIDE` pixels. Small writing, read drawn larger (:func:`digitlab.strokes.drawing_scale`),
        is measured again drawn as large: a pixel or two of blur is then a small part of its height, as it is
        of large writing shrunk. ``pen_width`` as given when there is no digit to read."""
        drawn_with = float(np.mean(pen_width))

        def mnist_pen(height: float) -> float:  # the ink reaches half a pen beyond the strokes, above and below
            return max(1.0, MNIST_PEN * (height - drawn_with))

        canvas = rasterize(strokes, size, pen_width, memory=self._drawings)
        drawn = drawn_page(canvas, method=self.threshold, max_side=SIZING_SIDE)
        height = segment(drawn.mask).digit_height / drawn.scale
        if height == 0:
            return pen_width
        scale = drawing_scale(mnist_pen(height))
        if scale > 1:  # only the strokes' part of the pad, so that a long line of small digits is not shrunk again
            placed, placed_size, placed_pens, _ = enlarged(strokes, pen_width, scale)
            drawn = drawn_page(rasterize(placed, placed_size, placed_pens), method=self.threshold)
            height = segment(drawn.mask).digit_height / (drawn.scale * scale) or height
        return mnist_pen(height)

    def read_graph(self, page: Page, segmentation: Segmentation, lines=None, memory=None) -> Reading:
        """Method "auto": each line read as the best path through its segmentation graph (:meth:`lattices`)."""
        digits = []
        for line, lattice in enumerate(self.lattices(page, segmentation, lines, memory)):
            for edge in lattice.path:
                boxes = edge.boxes if edge.crop is not None else decode.string_boxes(edge, lattice.pieces)
                for value, confidence, box in zip(edge.values, edge.confidences, boxes):
                    crop = edge.crop if edge.crop is not None else normalize_digit(_cut(page.ink, box))
                    digits.append(Digit(value=value, confidence=confidence, box=to_input_pixels(box, page.scale),
                                        crop=crop, line=line, method="auto" if edge.crop is not None else "crnn",
                                        touching=edge.crop is None,
                                        blobs=edge.end - edge.start))
        return reading_of(digits, page)

    def lattices(self, page: Page, segmentation: Segmentation, lines=None, memory=None) -> list[decode.Lattice]:
        """Each line's segmentation graph, scored by :attr:`candidate_model` (and the CRNN, which reads each
        line whole), with its best path: :func:`digitlab.decode.lattices`. ``lines``: pieces per
        line, by default the segmentation's blobs and the parts of wide ones; ``memory``: the candidates cut lately."""
        return decode.lattices(page, segmentation, lambda crops: self.classify(crops, self.candidate_model),
                               self.crnn_model, lines, self.digit_cost, self.skip_cost, memory=memory)

    def classify(self, crops: np.ndarray, model=None) -> np.ndarray:
        """Step 3: softmax probabilities (N, 10) for (N, 28, 28) float crops: all in one model call.

        With ``average_shifts``, one more call classifies the shifted copies
        of the crops read below :data:`SHIFTS_BELOW` (sure crops, most of
        them, cost nothing more), and their five predictions are averaged.
        The model runs as one compiled ``tf.function`` (:func:`digitlab.model.compiled_forward`).
        With ``remember_crops``, the crops this reader classified lately are not classified again.
        """
        crops = np.asarray(crops, dtype=np.float32).reshape(-1, 28, 28)
        model = self.model if model is None else model
        if not len(crops) or not self._remembered.capacity:
            return self._classify_anew(crops, model)
        keys = crop_keys(crops)
        rows = self._remembered.recall(model, keys)
        new = [index for index, row in enumerate(rows) if row is None]
        if new:
            for index, row in zip(new, self._classify_anew(crops[new], model)):
                rows[index] = row
            self._remembered.keep(model, [keys[index] for index in new], [rows[index] for index in new])
        return np.stack(rows)

    def forget(self) -> None:
        """Forget the probabilities remembered so far (``remember_crops``): after a model's weights changed."""
        self._remembered.clear()

    def _classify_anew(self, crops: np.ndarray, model) -> np.ndarray:
        """:meth:`classify` of crops it has not seen: one call, and one more for the shifted copies."""
        probabilities = self._predict(crops, model)
        unsure = np.flatnonzero(probabilities.max(axis=1) < SHIFTS_BELOW) if self.average_shifts else []
        if len(unsure):  # MNIST digits have a 4-pixel blank border: rolling loses nothing
            shifted = np.concatenate([np.roll(crops[unsure], shift, axis) for shift, axis in SHIFTS])
            views = self._predict(shifted, model).reshape(len(SHIFTS), len(unsure), -1)
            probabilities[unsure] = (probabilities[unsure] + views.sum(axis=0)) / (1 + len(SHIFTS))
        return probabilities

    def _predict(self, crops: np.ndarray, model) -> np.ndarray:
        """``model``'s probabilities for (N, 28, 28) crops, by its compiled forward pass: one call for a page of
        digits, calls of :data:`CROPS_PER_CALL` for pages of many more (memory grows with the crops of a call)."""
        from digitlab.model import INPUT_SHAPE, compiled_forward  # Keras is loaded already: a model was given

        forward = compiled_forward(model, INPUT_SHAPE)
        if len(crops) <= CROPS_PER_CALL:
            return np.array(forward(crops[..., np.newaxis]))
        return np.concatenate([np.array(forward(crops[start:start + CROPS_PER_CALL, ..., np.newaxis]))
                               for start in range(0, len(crops), CROPS_PER_CALL)])

    # --- Steps ------------------------------------------------------------

    def find_boxes(self, image, drawn: bool = False) -> tuple[Page, Segmentation]:
        """Step 1: the prepared image and its segmentation (boxes in working pixels). ``drawn``: ``image`` is a
        canvas the reader drew from strokes, its pixels its ink (:func:`digitlab.preprocess.drawn_page`)."""
        if drawn:
            page = drawn_page(image, method=self.threshold)
        else:
            page = prepare(image, polarity=self.polarity, method=self.threshold)
        return page, segment(page.mask)


def _check_digit_classifier(model) -> None:
    """A ``ValueError`` that says what is wrong when ``model`` is not a 28x28x1 -> 10 digit classifier.

    A model that declares its shapes (any Keras model) is checked; any other callable (a stand-in
    in a test) is taken at its word."""
    if not callable(model):
        raise ValueError(f"the model must be a Keras model (or a callable on image batches), got {type(model).__name__}.")
    if not (hasattr(model, "input_shape") and hasattr(model, "output_shape")):
        return
    from digitlab.model import INPUT_SHAPE, NUM_CLASSES  # Keras is loaded already: the model is a Keras model

    inputs, outputs = tuple(model.input_shape[1:]), model.output_shape[-1]
    if inputs != INPUT_SHAPE or outputs != NUM_CLASSES:
        raise ValueError(
            f"the model takes {inputs} and gives {outputs} outputs, but the reader needs a digit classifier "
            f"from {'x'.join(map(str, INPUT_SHAPE))} images to {NUM_CLASSES} classes (a CRNN goes to crnn_model=)."
        )


def _cut(image: np.ndarray, box) -> np.ndarray:
    x, y, w, h = box
    return image[y:y + h, x:x + w]
