"""Training the CRNN (digitlab.crnn.training, digitlab.crnn.strings): its lines, its batches, the command."""

from __future__ import annotations

import numpy as np
import pytest

from digitlab import crnn


@pytest.mark.training
def test_a_quick_training_lowers_the_ctc_loss(mnist):
    import keras

    keras.utils.set_random_seed(0)
    lines = crnn.training_strings(64, seed=5, mnist=mnist)
    batch, labels, _ = next(crnn.StripBatches(lines, batch_size=64, shuffle=False).batches())
    model = crnn.crnn()
    loss = crnn.ctc_loss()
    before = float(loss(labels, model(batch, training=False)))
    history = crnn.train(model, mnist, quick=True, verbose=0)
    after = float(loss(labels, model(batch, training=False)))
    assert history["train_strings_per_epoch"] == crnn.QUICK_STRINGS
    assert history["loss"][-1] < history["loss"][0]
    assert after < 0.8 * before
    assert 0.0 <= history["val_string_accuracy"][-1] <= 1.0


def test_training_strings_mix_spaced_and_overlapping_lines_of_1_to_10_digits(mnist):
    lines = crnn.training_strings(200, seed=3, mnist=mnist)
    lengths = [len(text) for text in lines.texts]
    assert min(lengths) >= 1 and max(lengths) <= crnn.MAX_DIGITS
    assert len(set(lengths)) >= 8
    assert any(sequence.inverted for sequence in lines) and not all(sequence.inverted for sequence in lines)


def test_training_strings_keep_a_share_of_digits_as_written(mnist):
    as_written = crnn.training_strings(20, seed=3, mnist=mnist, overlapping_fraction=1.0, plain_fraction=1.0)
    varied = crnn.training_strings(20, seed=3, mnist=mnist, overlapping_fraction=1.0, plain_fraction=0.0)

    def tallest(lines):
        return max(h for sequence in lines for _, _, _, h in sequence.boxes)

    assert tallest(as_written) <= 28  # MNIST's own size: no digit was scaled up
    assert tallest(varied) > 28
    with pytest.raises(ValueError, match="plain_fraction"):
        crnn.training_strings(10, mnist=mnist, overlapping_fraction=0.5, plain_fraction=0.6)


def test_the_training_mixture_is_described_as_set():
    words = crnn.describe_training_strings(overlapping_fraction=0.8, plain_fraction=0.7)
    assert words.startswith("20 % spaced") and "10 % overlapping" in words and "70 % overlapping" in words
    assert crnn.describe_training_strings().startswith(f"{(1 - crnn.OVERLAPPING_FRACTION) * 100:g} % spaced")
    with pytest.raises(ValueError, match="plain_fraction"):  # before any data is loaded
        crnn.train(crnn.crnn(), mnist=None, overlapping_fraction=0.5, plain_fraction=0.6)
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        crnn.train(crnn.crnn(), mnist=None, epochs=0)


def test_clutter_goes_beside_or_between_digits_and_leaves_them_as_they_were(mnist):
    lines = crnn.training_strings(30, seed=6, mnist=mnist, overlapping_fraction=0.0, plain_fraction=0.0)
    rng = np.random.default_rng(0)
    for sequence in lines.sequences[:10]:
        cluttered = crnn.with_clutter(sequence, rng)
        assert cluttered.text == sequence.text and cluttered.inverted == sequence.inverted
        assert cluttered.image.shape[0] == sequence.image.shape[0] and cluttered.image.shape[1] > sequence.image.shape[1]
        ink = 255 - cluttered.image if cluttered.inverted else cluttered.image
        before = 255 - sequence.image if sequence.inverted else sequence.image
        # Every digit's ink is where its box now says, untouched; the clutter is ink outside every box.
        for (x, y, w, h), (x0, y0, w0, h0) in zip(cluttered.boxes, sequence.boxes):
            assert (w, h, y) == (w0, h0, y0)
            np.testing.assert_array_equal(ink[y:y + h, x:x + w], before[y0:y0 + h0, x0:x0 + w0])
        assert ink.astype(int).sum() > before.astype(int).sum()


def test_damaged_lines_keep_their_text_with_strokes_broken_or_clutter_added(mnist):
    clean = crnn.training_strings(400, seed=2, mnist=mnist)
    damaged = crnn.damaged(crnn.training_strings(400, seed=2, mnist=mnist), seed=2)
    assert [line.text for line in damaged] == [line.text for line in clean]
    cluttered = np.mean([a.image.shape != b.image.shape for a, b in zip(damaged, clean)])
    changed = np.mean([a.image.shape != b.image.shape or not np.array_equal(a.image, b.image)
                       for a, b in zip(damaged, clean)])
    assert abs(cluttered - crnn.CLUTTER_FRACTION) < 0.06
    assert abs(changed - (1 - (1 - crnn.BROKEN_FRACTION) * (1 - crnn.CLUTTER_FRACTION))) < 0.07


def test_styles_restyle_the_training_lines_digits_but_not_the_validation_lines(mnist):
    from digitlab.crnn.training import _training_lines

    (x_train, y_train), test = mnist
    few = ((x_train[:6000], y_train[:6000]), test)  # 5,000 held out for validation, 1,000 to restyle

    def first_chunk_and_validation(styles):
        batches, validation = _training_lines(few, 64, 16, 64, seed=0, overlapping_fraction=0.8,
                                              plain_fraction=0.7, styles=styles)
        strips, labels = batches._chunk(0, 0)
        return strips, labels, validation

    plain_strips, plain_labels, plain_validation = first_chunk_and_validation(0.0)
    styled_strips, styled_labels, styled_validation = first_chunk_and_validation(1.0)
    np.testing.assert_array_equal(styled_labels, plain_labels)  # the same texts, digits restyled
    assert sum(not np.array_equal(a, b) for a, b in zip(plain_strips, styled_strips)) > len(plain_strips) // 2
    assert [sequence.text for sequence in styled_validation] == [sequence.text for sequence in plain_validation]
    for plain, styled in zip(plain_validation, styled_validation):
        np.testing.assert_array_equal(plain.image, styled.image)


def test_train_command_sets_the_crnn_mixture_and_refuses_bad_ones(capsys):
    from digitlab.cli import main

    assert main(["train", "--model", "crnn", "--overlapping", "0.5", "--as-written", "0.7", "--quick"]) == 2
    assert "plain_fraction <= overlapping_fraction" in capsys.readouterr().err
    assert main(["train", "--model", "baseline_cnn", "--as-written", "0.7", "--quick"]) == 2
    assert "for --model crnn" in capsys.readouterr().err


def test_train_help_gives_the_crnn_mixture_defaults_the_training_uses(capsys):
    from digitlab.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"(default {crnn.OVERLAPPING_FRACTION:g};" in help_text
    assert f"(default {crnn.PLAIN_FRACTION:g};" in help_text


@pytest.mark.training
def test_train_init_fine_tunes_every_layer_and_counts_all_epochs(tmp_path, mnist):
    from digitlab.card import read_card, save_model, write_card
    from digitlab.cli import main

    parent, out = tmp_path / "parent.keras", tmp_path / "fine_tuned.keras"
    save_model(crnn.crnn(), parent)
    write_card({"model": "crnn", "epochs": 1}, parent)
    assert main(["train", "--model", "crnn", "--quick", "--init", str(parent), "--styles", "0.3",
                 "--out", str(out)]) == 0
    card = read_card(out)
    assert card["fresh_layers"] == [] and card["total_epochs"] == 1 + card["epochs"]
    assert card["styles"].startswith("30% of training digits restyled")
    assert card["initialised_from"]["epochs"] == 1


def test_strip_batches_group_similar_widths_and_cover_every_line(mnist):
    lines = crnn.training_strings(150, seed=4, mnist=mnist)
    batches = crnn.StripBatches(lines, batch_size=32, seed=0)
    seen = 0
    for strips, labels, weights in batches.batches():
        assert strips.dtype == np.float32 and strips.shape[1:2] == (crnn.STRIP_HEIGHT,)
        assert strips.shape[2] % crnn.BUCKET_WIDTH == 0 and strips.shape[0] == labels.shape[0]
        assert 0.0 <= strips.min() and strips.max() <= 1.0
        np.testing.assert_array_equal(weights, np.ones(len(labels)))  # fixed lines: the loss is a mean per line
        seen += len(labels)
    assert seen == len(lines)
    assert len(batches) == sum(1 for _ in batches.batches())


def test_fresh_strip_batches_weigh_each_line_as_batches_of_equal_size_would(mnist):
    batches = crnn.StripBatches(lambda count, pass_index, chunk_index: crnn.training_strings(count, mnist=mnist),
                                batch_size=32, per_pass=256)
    sizes = []
    for _, labels, weights in batches.batches():
        # The batch's mean loss, times len / 32, counts as that many of 32 lines' losses.
        np.testing.assert_allclose(weights, np.full(len(labels), len(labels) / 32), rtol=1e-6)
        sizes.append(len(labels))
    assert sum(sizes) == 256 and len(sizes) == 256 // 32 and len(set(sizes)) > 1


def test_strip_batches_of_short_lines_hold_more_lines_than_batches_of_long_ones(mnist):
    lines = crnn.training_strings(256, seed=4, mnist=mnist)
    batches = list(crnn.StripBatches(lines, batch_size=32, shuffle=False).batches())
    assert len(batches) == 256 // 32
    sizes = [len(labels) for _, labels, _ in batches]
    areas = [strips.shape[0] * strips.shape[2] for strips, _, _ in batches]
    widths = [strips.shape[2] for strips, _, _ in batches]
    assert sizes[np.argmin(widths)] > 32 > sizes[np.argmax(widths)]
    # Runs of 32 lines each would put the 32 widest together: more area than any batch here.
    one_by_one = crnn.StripBatches(lines, batch_size=1, shuffle=False).batches()
    widest = max(strips.shape[2] for strips, _, _ in one_by_one)
    assert max(areas) < 32 * widest


def test_equal_area_runs_cover_the_lines_in_order_with_the_smallest_largest_area():
    widths = [32] * 12 + [64] * 6 + [128] * 3
    runs = crnn.equal_area_runs(widths, 3)
    assert runs == [(0, 12), (12, 18), (18, 21)]  # each run 384 columns of area
    assert crnn.equal_area_runs([32, 32, 32, 32], 4) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    runs = crnn.equal_area_runs([10, 40, 40, 200, 300], 2)
    assert runs[0][0] == 0 and runs[-1][1] == 5 and all(a[1] == b[0] for a, b in zip(runs, runs[1:]))
    with pytest.raises(ValueError, match="sorted"):
        crnn.equal_area_runs([64, 32], 1)
    with pytest.raises(ValueError, match="runs"):
        crnn.equal_area_runs([32, 32], 3)


def test_fresh_strip_batches_make_new_lines_every_pass(mnist):
    made = []

    def make(count, pass_index, chunk_index):
        made.append((count, pass_index, chunk_index))
        return crnn.training_strings(count, seed=100 * pass_index + chunk_index, mnist=mnist)

    per_pass = crnn.CHUNK_STRINGS + 40  # one whole chunk and a part of one
    batches = crnn.StripBatches(make, batch_size=512, per_pass=per_pass, seed=0)
    passes = [list(batches.batches()) for _ in range(2)]
    assert made == [(crnn.CHUNK_STRINGS, 0, 0), (40, 0, 1), (crnn.CHUNK_STRINGS, 1, 0), (40, 1, 1)]
    for batches_of_a_pass in passes:
        assert len(batches_of_a_pass) == len(batches)
        assert sum(len(labels) for _, labels, _ in batches_of_a_pass) == per_pass
    first, second = (np.sort(np.concatenate([labels for _, labels, _ in p]), axis=0) for p in passes)
    assert not np.array_equal(first, second)


def test_strip_batches_dataset_gives_a_new_pass_every_epoch(mnist):
    def make(count, pass_index, chunk_index):
        return crnn.training_strings(count, seed=100 * pass_index + chunk_index, mnist=mnist)

    expected = crnn.StripBatches(make, batch_size=16, per_pass=48, seed=0)
    expected_passes = [list(expected.batches()) for _ in range(2)]
    dataset = crnn.StripBatches(make, batch_size=16, per_pass=48, seed=0).dataset()
    assert dataset.element_spec[0].shape.as_list() == [None, crnn.STRIP_HEIGHT, None, 1]  # any width
    for expected_pass in expected_passes:  # as Keras iterates it: once per epoch
        got = [tuple(tensor.numpy() for tensor in batch) for batch in dataset]
        assert len(got) == len(expected_pass) == 3
        for got_batch, expected_batch in zip(got, expected_pass):
            for got_array, expected_array in zip(got_batch, expected_batch):
                np.testing.assert_array_equal(got_array, expected_array)
    first, second = (np.concatenate([labels for _, labels, _ in p]) for p in expected_passes)
    assert not np.array_equal(first, second)


def test_strip_batches_on_another_backend_give_the_same_passes_in_order(mnist, monkeypatch):
    import keras

    def make(count, pass_index, chunk_index):
        return crnn.training_strings(count, seed=100 * pass_index + chunk_index, mnist=mnist)

    expected = crnn.StripBatches(make, batch_size=16, per_pass=48, seed=0)
    expected_passes = [list(expected.batches()) for _ in range(2)]
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")  # what a GPU machine without TensorFlow runs
    dataset = crnn.StripBatches(make, batch_size=16, per_pass=48, seed=0).dataset()
    monkeypatch.undo()
    assert isinstance(dataset, keras.utils.PyDataset)
    for expected_pass in expected_passes:  # as Keras asks for them: in order, once per epoch
        assert len(dataset) == len(expected_pass) == 3
        for index, expected_batch in enumerate(expected_pass):
            for got_array, expected_array in zip(dataset[index], expected_batch):
                np.testing.assert_array_equal(got_array, expected_array)
    dataset[0]
    with pytest.raises(ValueError, match="step 2 was asked for when step 1 was next"):
        dataset[2]


def test_shifted_strip_batches_move_lines_within_their_margin(mnist):
    lines = crnn.training_strings(40, seed=6, mnist=mnist)
    plain = list(crnn.StripBatches(lines, batch_size=40, shuffle=False).batches())
    shifted = list(crnn.StripBatches(lines, batch_size=40, shuffle=False, shift=crnn.STRIDE, seed=1).batches())
    (plain_strips, plain_labels, _), (shifted_strips, shifted_labels, _) = plain[0], shifted[0]
    np.testing.assert_array_equal(plain_labels, shifted_labels)
    assert not np.array_equal(plain_strips, shifted_strips)
    # No ink is lost: each line only moved right, by less than STRIDE columns.
    np.testing.assert_allclose(plain_strips.sum(axis=(1, 2, 3)), shifted_strips.sum(axis=(1, 2, 3)), rtol=1e-5)
    first_ink = [np.nonzero(strip.any(axis=(0, 2)))[0][0] for strip in (plain_strips, shifted_strips) for strip in strip]
    moves = np.subtract(first_ink[len(lines):], first_ink[:len(lines)])
    assert moves.min() >= 0 and moves.max() <= crnn.STRIDE - 1 and len(set(moves)) > 1
    with pytest.raises(ValueError, match="shift"):
        crnn.StripBatches(lines, shift=crnn.SIDE_MARGIN + 1)


def test_fresh_strip_batches_need_a_number_of_lines_per_pass():
    with pytest.raises(ValueError, match="per_pass"):
        crnn.StripBatches(lambda count, pass_index, chunk_index: None)


def test_a_batch_given_in_two_steps_has_the_whole_batch_s_gradient(mnist):
    import tensorflow as tf

    lines = crnn.training_strings(40, seed=8, mnist=mnist)
    whole = list(crnn.StripBatches(lines, batch_size=40, shuffle=False).batches())
    steps = list(crnn.StripBatches(lines, batch_size=40, shuffle=False, steps_per_batch=2).batches())
    assert len(whole) == 1 and len(steps) == 2
    assert sorted(map(tuple, np.concatenate([labels for _, labels, _ in steps]))) == sorted(map(tuple, whole[0][1]))
    assert all(strips.shape[2] <= whole[0][0].shape[2] for strips, _, _ in steps)  # never wider than the batch
    model, loss = crnn.crnn(), crnn.ctc_loss()

    def gradient(strips, labels, weights):
        with tf.GradientTape() as tape:  # batch norm from its statistics, so the loss is a mean of lines' losses
            value = loss(labels, model(strips, training=False), sample_weight=weights)
        return [g.numpy() for g in tape.gradient(value, model.trainable_weights)]

    # A step is padded to its own widest line; as wide as the batch, the two steps are the batch, cut in two.
    width = whole[0][0].shape[2]
    steps = [(np.pad(strips, [(0, 0), (0, 0), (0, width - strips.shape[2]), (0, 0)]), labels, weights)
             for strips, labels, weights in steps]
    mean_of_steps = [(a + b) / 2 for a, b in zip(*(gradient(*step) for step in steps))]
    for of_steps, of_batch in zip(mean_of_steps, gradient(*whole[0])):
        np.testing.assert_allclose(of_steps, of_batch, rtol=1e-3, atol=1e-5)


def test_a_crnn_compiled_for_two_steps_a_batch_updates_once_per_two_steps(mnist):
    lines = crnn.training_strings(32, seed=9, mnist=mnist)
    first, second = crnn.StripBatches(lines, batch_size=32, shuffle=False, steps_per_batch=2).batches()
    model = crnn.compile_crnn(crnn.crnn(), 1e-3, steps_per_batch=2)
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(*first[:2], sample_weight=first[2])
    after_first = model.get_weights()
    model.train_on_batch(*second[:2], sample_weight=second[2])
    trainable = {id(weight) for weight in model.trainable_weights}
    learned = [index for index, weight in enumerate(model.weights) if id(weight) in trainable]
    assert all(np.array_equal(before[index], after_first[index]) for index in learned)  # the first step: no update
    after_second = model.get_weights()
    assert not all(np.array_equal(before[index], after_second[index]) for index in learned)


def test_strip_batches_refuse_more_steps_than_lines_a_batch():
    with pytest.raises(ValueError, match="steps_per_batch"):
        crnn.StripBatches([], batch_size=4, steps_per_batch=5)
