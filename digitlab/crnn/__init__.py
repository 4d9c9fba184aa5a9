"""A CRNN read with CTC: whole lines of digits, without cutting them into boxes first.

Taught in ``notebooks/08_beyond_segmentation.ipynb``.

Contours (``notebooks/06_segmenting_sequences.ipynb``) need a gap between
digits; when digits touch or overlap, one blob holds several of them. A CRNN
reads the line as a sequence instead:

1. :func:`to_strip`: the line's ink is fitted into a strip 32 pixels high;
2. :func:`crnn`: convolutions turn every 4 pixel-wide column band into a
   feature vector, 1-D convolutions give it its neighbours' context, and a
   dense layer scores two *frames* of 2 columns each as "blank" or one of the
   ten digits (two frames per band leave room for a blank between two thin
   digits that overlap, such as "11");
3. :func:`ctc_loss` trains it from the text alone (no boxes): CTC sums over
   every alignment of the text to the frames;
4. :func:`greedy_decode` reads it back: the best class of each frame, repeats
   collapsed, blanks dropped ("1 1 _ 1 0 _ 0" -> "1100");
5. :func:`combine_phases`: each line is read at four column phases (moved
   right by 0 to 3 columns, :func:`phase_probabilities`); where the
   readings disagree, the text with the highest CTC likelihood over all four
   (:func:`ctc_log_likelihood`) wins.

:func:`read_line` and :func:`read_lines` do all of this and return a
:class:`LineReading`: the text, the digits, one confidence per digit and an
approximate box per digit (from the CTC alignment). The shipped model is
``digitlab/models/crnn.keras``; ``digitlab train --model crnn`` trains it on
strings of MNIST *training* digits (:func:`training_strings`).


The package, by responsibility: :mod:`~digitlab.crnn.strips` (a line into a
strip), :mod:`~digitlab.crnn.network` (the model), :mod:`~digitlab.crnn.ctc`
(labels, loss, decoding, likelihoods), :mod:`~digitlab.crnn.reading`
(reading lines with a trained model, saved models),
:mod:`~digitlab.crnn.strings` (training strings and their batches) and
:mod:`~digitlab.crnn.training`. Their public names are all here:
``from digitlab import crnn; crnn.read_line(...)``.
"""

from __future__ import annotations

from digitlab.crnn.ctc import (
    BLANK, MAX_DIGITS, NUM_CLASSES, Decoded, best_path, ctc_log_likelihood, ctc_log_likelihoods, ctc_loss,
    encode_labels, greedy_decode, softmax,
)
from digitlab.crnn.network import crnn
from digitlab.crnn.reading import (
    DEFAULT_MODEL, EXTRA_INK_HEIGHTS, EXTRA_PHASES, HARD_BELOW, READ_PHASES, LineReading, combine_phases,
    combine_views, frame_probabilities, is_hard, load_default, load_model, phase_probabilities, plot_alignment,
    read_line, read_lines,
)
from digitlab.crnn.strings import (
    BROKEN_FRACTION, BUCKET_WIDTH, CHUNK_STRINGS, CLUTTER_FRACTION, OVERLAPPING_FRACTION, OVERLAPPING_OPTIONS,
    PLAIN_FRACTION, SPACED_OPTIONS, STRING_OPTIONS, StripBatches, check_fractions, damaged,
    describe_training_strings, equal_area_runs, spaced_strings, touching_strings, training_strings, with_clutter,
)
from digitlab.crnn.strips import (
    FRAME_WIDTH, INK_HEIGHT, INK_THRESHOLD, SIDE_MARGIN, STRIDE, STRIP_HEIGHT, SUBFRAMES, Box, Strip, stack_strips,
    to_strip,
)
from digitlab.crnn.training import (
    QUICK_EPOCHS, QUICK_STRINGS, STEPS_PER_BATCH, StringAccuracy, compile_crnn, string_accuracy, train,
)
