"""Knowledge distillation: one network learns to give the probabilities an ensemble gives.

Taught in ``notebooks/03_training_the_cnn.ipynb`` (section "Knowledge distillation").
An ensemble (:func:`digitlab.model.ensemble`) is right more often than any of its
members, but every read runs all of them. A *student* network can learn more
from the ensemble (the *teacher*) than from the labels alone: the teacher's
small probabilities say which wrong digits an image looks like (this 7 a little
like a 1), and the same image's label says only "7". Softening both networks'
probabilities by a temperature lets those small ones weigh in the loss
(Hinton, Vinyals and Dean, "Distilling the knowledge in a neural network", 2015).

Keras' :class:`keras.distillation.Distiller` runs the training; this module adds
the loss for networks that end in a softmax (Keras' ``LogitsDistillation``
wants logits). ``digitlab train --teacher MODEL.keras`` distils into the
``--model`` network (:func:`digitlab.train.train`'s ``teacher``).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

#: How much the distillation loss softens both networks' probabilities (the logits are divided by it).
TEMPERATURE = 4.0
#: The labels' share of the loss; the teacher's softened probabilities have the rest (Keras' default, 0.5).
LABEL_WEIGHT = 0.5


def check_temperature(temperature: float) -> None:
    """Raise ``ValueError`` unless ``temperature`` is a positive number."""
    if not temperature > 0:
        raise ValueError(f"the temperature must be positive, got {temperature}.")


def soften(probabilities, temperature: float):
    """``probabilities`` (..., classes) at ``temperature``: each raised to ``1 / temperature``, renormalised.

    For probabilities made by a softmax this equals a softmax of the logits
    divided by ``temperature``: at 1 nothing changes, above 1 the small
    probabilities grow and the large ones shrink, and the ranking stays.
    A probability the softmax rounded to 0 counts as Keras' epsilon (1e-7).
    """
    check_temperature(temperature)
    logits = ops.log(ops.clip(probabilities, keras.config.epsilon(), 1.0))
    return ops.softmax(logits / temperature, axis=-1)


class SoftenedProbabilities(keras.distillation.DistillationLoss):
    """The distillation loss for a teacher and a student that output softmax probabilities: the
    Kullback-Leibler divergence from the teacher's softened probabilities to the student's, times the
    temperature squared (so that its gradients keep their size whatever the temperature)."""

    def __init__(self, temperature: float = TEMPERATURE):
        check_temperature(temperature)  # now, not at the first training step
        self.temperature = temperature

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        teacher = soften(teacher_outputs, self.temperature)
        student = soften(student_outputs, self.temperature)
        return ops.mean(keras.losses.kl_divergence(teacher, student)) * self.temperature**2

    def get_config(self) -> dict:
        return {"temperature": self.temperature}


def check_teacher(teacher: keras.Model, student: keras.Model) -> None:
    """Raise ``ValueError`` unless ``teacher`` reads the images ``student`` reads, into the same classes."""
    for what, teacher_shape, student_shape in [("input", teacher.input.shape, student.input.shape),
                                               ("output", teacher.output.shape, student.output.shape)]:
        if tuple(teacher_shape[1:]) != tuple(student_shape[1:]):
            raise ValueError(f"the teacher {teacher.name!r} has {what} shape {tuple(teacher_shape[1:])} and the "
                             f"student {student.name!r} {tuple(student_shape[1:])}: a student learns from a teacher "
                             "that reads the same images into the same classes.")


def distiller(teacher: keras.Model, student: keras.Model, temperature: float = TEMPERATURE,
              label_weight: float = LABEL_WEIGHT) -> keras.distillation.Distiller:
    """A model to compile and fit in place of ``student``: its loss is ``label_weight`` times the
    student's own loss against the labels plus the rest times :class:`SoftenedProbabilities`.
    Fitting it trains ``student``; ``teacher`` is frozen. Save ``student``, not the distiller."""
    check_teacher(teacher, student)
    if not 0 <= label_weight <= 1:
        raise ValueError(f"label_weight must be in [0, 1], got {label_weight}.")
    return keras.distillation.Distiller(teacher=teacher, student=student,
                                        distillation_losses=SoftenedProbabilities(temperature),
                                        student_loss_weight=label_weight, name=f"{student.name}_distiller")


def distillation_loss(teacher_probabilities, student_probabilities, temperature: float = TEMPERATURE) -> float:
    """How far a student's softened probabilities are from its teacher's on the same images
    (:class:`SoftenedProbabilities`, averaged over the images): 0 when they agree. Both are arrays of
    probabilities, one row an image (:func:`digitlab.evaluate.predict_probabilities`), so that the teacher
    reads the images once however many students are compared with it."""
    teacher_probabilities = np.asarray(teacher_probabilities, np.float32)
    student_probabilities = np.asarray(student_probabilities, np.float32)
    if teacher_probabilities.shape != student_probabilities.shape:
        raise ValueError(f"the teacher's probabilities have shape {teacher_probabilities.shape} and the student's "
                         f"{student_probabilities.shape}: give both models' probabilities on the same images")
    loss = SoftenedProbabilities(temperature)
    return float(loss.compute_loss(teacher_probabilities, student_probabilities))


def card_fields(teacher_path, teacher_card: dict) -> dict:
    """A distilled model's card: what it learned from (the teacher's file and card) and how."""
    return {"distillation": {
        "teacher": str(teacher_path),
        "teacher_test_accuracy": teacher_card.get("test_accuracy"),
        "teacher_command": teacher_card.get("command"),
        "temperature": TEMPERATURE,
        "label_weight": LABEL_WEIGHT,
        "loss": "label_weight x the labels' cross-entropy + (1 - label_weight) x temperature^2 x "
                "KL(teacher || student), both softened by the temperature (digitlab.distill)",
    }}
