"""Answer checkers for the notebooks' exercises.

Each notebook ends with exercises such as::

    from digitlab import exercises

    exercises.show("02.output_size")          # the question
    answer = ...                              # replace ... with your answer
    exercises.check("02.output_size", answer)

:func:`check` prints a friendly message: right, or not right yet with a hint.
It returns ``True`` or ``False`` for an answer, and ``None`` for the ``...``
placeholder, so an unanswered exercise shows a reminder and a hint, never a
bare ``False``; it never raises for a wrong or missing answer, so a notebook
still runs from top to bottom. Some exercises ask for a prediction: answer
first, then run the code the notebook gives to see whether and why. Exercise
ids start with their notebook's number (``"01."`` is
``notebooks/01_mnist_and_preprocessing.ipynb``, and so on).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# --- Exercises ------------------------------------------------------------


@dataclass(frozen=True)
class Exercise:
    """A question, its expected answer, how close counts as right, and a hint for wrong answers."""

    question: str
    answer: object
    hint: str
    tolerance: float = 0.0  # for numbers: |answer - expected| <= tolerance


EXERCISES = {
    # 01_mnist_and_preprocessing
    "01.pixels": Exercise(
        "How many numbers (pixels) describe one MNIST image?",
        784, "An image is 28 pixels high and 28 wide, one grey level each."),
    "01.normalise": Exercise(
        "A uint8 pixel holds 51. What is it after 0-1 normalisation?",
        0.2, "Divide by the largest uint8 value, 255.", tolerance=1e-3),
    "01.flip": Exercise(
        "Should we add random horizontal flips to MNIST's augmentation? (True or False)",
        False, "Flip a 2, a 3 or a 7 in your head: is it still the same digit?"),
    # 02_convolution_pooling_padding_flatten
    "02.output_size": Exercise(
        "A 28x28 image, a 5x5 kernel, stride 2, no padding ('valid'): how wide is the output?",
        12, "Use floor((n + 2p - k) / s) + 1 with n=28, k=5, s=2, p=0."),
    "02.same_padding": Exercise(
        "How many zeros must be added on each side so a 7x7 kernel at stride 1 keeps 28x28 ('same')?",
        3, "The output size is n + 2p - k + 1; set it equal to n and solve for p."),
    "02.flatten": Exercise(
        "How long is the vector Flatten makes of a 7x7x64 feature map?",
        3136, "Flatten keeps every number: multiply height, width and channels."),
    "02.conv_parameters": Exercise(
        "How many weights does Conv2D(32, 3) have on a 1-channel (grey) input, biases included?",
        320, "Each of the 32 filters has a 3x3x1 kernel and one bias."),
    "02.max_pool": Exercise(
        "2x2 max pooling of [[1, 3], [4, 2]] gives one number: which?",
        4, "Max pooling keeps the largest value of each window."),
    "02.padding_changes": Exercise(
        "Predict, then check: if both convolutions of baseline_cnn used 'same' padding, a 7x7x64 map would "
        "reach Flatten instead of 5x5x64. Whose parameter count changes: the convolutions' ('conv2d'), the "
        "Dense layer's after Flatten ('dense') or 'both'?",
        "dense", "A kernel has the same weights wherever it slides, so the input's size does not count; "
                 "a Dense layer has one weight per input number and unit."),
    # 03_training_the_cnn
    "03.baseline_parameters": Exercise(
        "How many trainable parameters does baseline_cnn() (32 filters, 128 dense units) have?",
        225_034, "Add each layer's parameters: model.summary() lists them, or compute them by hand."),
    "03.steps_per_epoch": Exercise(
        "Training on 55,000 images with batches of 128: how many steps (batches) make one epoch?",
        430, "The last, smaller batch counts too: round up."),
    "03.overfitting": Exercise(
        "Training accuracy 99.9 %, validation accuracy 97 % and falling: 'overfitting' or 'underfitting'?",
        "overfitting", "The model does far better on images it has seen than on new ones."),
    "03.cure": Exercise(
        "Your model over-fits, as the run of section 3 does. Which one change should help: 'more epochs', "
        "'dropout' or 'more dense units'? (Predict, then try it on section 3's over-fitting run.)",
        "dropout", "Over-fitting is memorising: which change makes memorising harder rather than easier?"),
    "03.smoothed_target": Exercise(
        "With label smoothing 0.1 over 10 classes, what probability is the target for the right digit?",
        0.91, "Smoothing by s keeps 1 - s of the right answer and spreads s evenly over all 10 classes, "
        "the right one included.", tolerance=1e-3),
    "03.temperature": Exercise(
        "A teacher gives an image probability 0.8 for one digit and 0.2 for another (0 for the rest). Softened "
        "at temperature 2, what probability does the first digit get?",
        2 / 3, "Raise each probability to the power 1/2 (take its square root), then divide by their sum so "
        "that they add up to 1 again.", tolerance=1e-2),
    # 04_hyperparameter_tuning
    "04.grid_size": Exercise(
        "How many models does a full grid over filters {32, 64, 128}, dense units {32, 64, 128} "
        "and learning rates {1e-2, 1e-3, 1e-4} train?",
        27, "Every combination: multiply the number of choices of each hyperparameter."),
    "04.chief": Exercise(
        "Which value of KERASTUNER_TUNER_ID makes a process the oracle (the coordinator)?",
        "chief", "Workers are called tuner0, tuner1, ...; the coordinator has a special name."),
    # 05_evaluation
    "05.errors": Exercise(
        "A model has 99.42 % test accuracy on MNIST's 10,000 test images: how many does it get wrong?",
        58, "Errors = (1 - accuracy) x images."),
    "05.precision": Exercise(
        "The model says '9' for 500 test images, of which 490 really are 9s. What is its precision for 9?",
        0.98, "Precision = right predictions of 9 / all predictions of 9.", tolerance=1e-3),
    "05.most_confused": Exercise(
        "Predict before section 4, then check with its counts: which single mistake does the shipped CNN "
        "make most often on the test set? Answer [true digit, digit it is read as], e.g. [4, 9].",
        [5, 3], "Look for the largest number off the diagonal of the confusion matrix: its row is the true digit, "
                "its column the digit read."),
    # 06_segmenting_sequences
    "06.margin": Exercise(
        "MNIST fits each digit in a 20x20 box centred in 28x28. How many pixels of margin on each side?",
        4, "(28 - 20) / 2."),
    "06.order": Exercise(
        "Contours come in no particular order. Boxes start at x = 90, 10, 50: in which order "
        "(a list of their indices) should they be read?",
        [1, 2, 0], "Sort the boxes by their left edge, x, from small to large."),
    "06.sample_blobs": Exercise(
        "Predict, then check: in the sample overlapping_27.png the 7 reaches into the 2's box. How many blobs does "
        "find_blobs find in it? (Check as in section 1.)",
        2, "Boxes that overlap are not ink that touches: a blob is ink connected pixel to pixel. "
           "Look at its threshold image."),
    # 07_draw_and_read
    "07.mnist_box": Exercise(
        "Every crop is fitted into a square before it is padded to 28x28. How many pixels is its side?",
        20, "MNIST's digits were fitted into a 20x20 box, then centred in 28x28 by their centre of mass."),
    "07.pen_at_20px": Exercise(
        "A 140 px tall digit drawn with a 14 px pen is scaled to MNIST's size. How wide is its stroke then, in pixels?",
        2.0, "The crop's longer side becomes 20 px: multiply the pen width by 20 / 140.", tolerance=0.2),
    # 08_beyond_segmentation
    "08.collapse": Exercise(
        "Predict, then check with crnn.greedy_decode (the one_hot helper of section 3): which text does the "
        "CTC path '__4_44__77_7__' collapse to? (a string of digits, in quotes)",
        "4477", "First merge runs of the same class, then drop the blanks: a blank between two runs of 4 "
                "keeps both 4s."),
    "08.min_frames": Exercise(
        "At least how many frames must a CTC output have to emit the text '1111'?",
        7, "One frame per digit, and a blank between two identical neighbours, or they merge into one."),
    "08.exact_boxes": Exercise(
        "The digits are well apart and you need each digit's exact box and crop: which method, "
        "'contours' or 'crnn'?",
        "contours", "CTC only says in which frames a digit was emitted; segmentation cuts out each digit's own ink."),
    # 09_real_handwriting
    "09.string_accuracy": Exercise(
        "A reader gets 99.3 % of single digits right, each independently of the others. What fraction of "
        "8-digit strings does it read entirely right (a number between 0 and 1)?",
        0.9454, "Every one of the 8 digits must be right: multiply 0.993 by itself 8 times.", tolerance=0.002),
    "09.which_half": Exercise(
        "You trained three models with different style fractions and kept the one that read the 'choose' "
        "writers best. On which half of the writers is its accuracy a fair figure to publish: "
        "'choose' or 'report'?",
        "report", "The half you chose on has seen your choice: its best score is flattered by the choosing."),
}


# --- Checking -------------------------------------------------------------


def _exercise(exercise_id: str) -> Exercise:
    if exercise_id not in EXERCISES:
        raise KeyError(
            f"unknown exercise {exercise_id!r}; the exercises are: {', '.join(EXERCISES)}."
        )
    return EXERCISES[exercise_id]


def show(exercise_id: str) -> None:
    """Print the question of ``exercise_id``."""
    print(f"Exercise {exercise_id}: {_exercise(exercise_id).question}")


def is_right(exercise_id: str, answer) -> bool:
    """Whether ``answer`` is right (numbers within the exercise's tolerance, words case-blind)."""
    expected = _exercise(exercise_id).answer
    tolerance = _exercise(exercise_id).tolerance
    if isinstance(expected, bool) or isinstance(answer, bool):
        return type(answer) is type(expected) and answer == expected
    if isinstance(expected, (int, float)):
        try:
            number = float(answer)
        except (TypeError, ValueError):
            return False
        return math.isfinite(number) and abs(number - expected) <= tolerance
    if isinstance(expected, str):
        return isinstance(answer, str) and answer.strip().lower() == expected
    try:
        return list(answer) == list(expected)
    except TypeError:
        return False


def check(exercise_id: str, answer) -> bool | None:
    """Print whether ``answer`` is right, with a hint when it is not; return ``True`` if right, else ``False``.

    The placeholder ``...`` (not answered yet) prints a reminder and the hint
    and returns ``None``, so a notebook cell ending in ``check(...)`` shows no
    bare ``False``; nothing is raised.
    """
    exercise = _exercise(exercise_id)
    if answer is ...:
        print(f"Exercise {exercise_id}: not answered yet: replace ... with your answer and run the cell again. "
              f"Hint: {exercise.hint}")
        return None
    if is_right(exercise_id, answer):
        print(f"Exercise {exercise_id}: {answer!r} is right. Well done!")
        return True
    print(f"Exercise {exercise_id}: {answer!r} is not right yet. Hint: {exercise.hint}")
    return False


def exercises_for(notebook: str) -> list[str]:
    """The exercise ids of a notebook, given its number (``"02"``) or file name."""
    number = str(notebook).rsplit("/", 1)[-1][:2]
    return [exercise_id for exercise_id in EXERCISES if exercise_id.startswith(f"{number}.")]
