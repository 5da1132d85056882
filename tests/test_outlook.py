"""dlgen.outlook: coarse labels, multi-task models, domain shifts, saliency, confusion plots."""

import matplotlib.pyplot as plt
import keras
import numpy as np
import pytest

import dlgen


def test_coarse_labels_cover_fashion_mnist_and_refuse_gaps_and_overlaps():
    coarse, names = dlgen.coarse_labels(np.arange(10))
    assert names == ["tops", "bottoms and dresses", "footwear", "bags"]
    assert coarse.tolist() == [0, 1, 0, 1, 0, 2, 0, 2, 3, 2]
    with pytest.raises(ValueError, match=r"labels \[2\] are in no group"):
        dlgen.coarse_labels([0, 2], {"a": (0,), "b": (1,)})
    with pytest.raises(ValueError, match="class 1 is in two groups"):
        dlgen.coarse_labels([0, 1], {"a": (0, 1), "b": (1,)})


def test_shift_images_keeps_shape_and_dtype_and_refuses_unknown_kinds():
    x = np.random.default_rng(0).integers(0, 256, size=(4, 6, 5), dtype=np.uint8)
    inv = dlgen.shift_images(x, "invert")
    assert inv.dtype == np.uint8 and (inv.astype(int) + x == 255).all()
    rot = dlgen.shift_images(x, "rotate")
    assert rot.shape == (4, 5, 6) and (np.rot90(rot, k=-1, axes=(1, 2)) == x).all()
    noisy = dlgen.shift_images(x, "noise", seed=1)
    assert noisy.shape == x.shape and noisy.dtype == np.uint8 and (noisy != x).mean() > 0.5
    assert (dlgen.shift_images(x, "noise", seed=1) == noisy).all()
    with pytest.raises(ValueError, match=r"kind must be one of \('invert', 'noise', 'rotate'\), got 'blur'"):
        dlgen.shift_images(x, "blur")
    with pytest.raises(ValueError, match="uint8 images"):
        dlgen.shift_images(x.astype("float32"), "invert")
    with pytest.raises(ValueError, match="noise_std must be > 0"):
        dlgen.shift_images(x, "noise", noise_std=0)


@pytest.mark.integration
def test_multitask_model_learns_both_heads_and_checks_its_labels():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 6)).astype("float32")
    fine = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0).astype(int)     # 4 classes
    coarse = (x[:, 0] > 0).astype(int)                                   # 2 classes
    dlgen.set_seed(0)
    model = dlgen.build_multitask_mlp((6,), {"fine": 4, "coarse": 2}, depth=1, units=16)
    data = (x, {"fine": fine, "coarse": coarse})
    record = dlgen.fit_multitask(model, data, data, data, epochs=30, batch_size=32, learning_rate=1e-2)
    assert record.test["fine_accuracy"] > 0.9 and record.test["coarse_accuracy"] > 0.9, record.test
    assert {"fine_accuracy", "val_coarse_accuracy", "epoch_seconds"} <= set(record.history.columns)
    with pytest.raises(ValueError, match=r"has labels for \['fine'\]; the model's tasks are \['coarse', 'fine'\]"):
        dlgen.fit_multitask(model, (x, {"fine": fine}), epochs=1)
    with pytest.raises(ValueError, match="pair"):
        dlgen.fit_multitask(model, (x, fine), epochs=1)
    with pytest.raises(ValueError, match="identifiers"):
        dlgen.build_multitask_mlp((6,), {"two words": 3})


def test_saliency_of_a_linear_model_is_its_weight_column():
    dlgen.set_seed(0)
    model = dlgen.build_mlp((4,), 3, depth=0)
    x = np.random.default_rng(1).normal(size=(5, 4)).astype("float32")
    kernel = keras.ops.convert_to_numpy(model.layers[-1].kernel)
    grads, classes = dlgen.saliency(model, x)
    predicted = keras.ops.convert_to_numpy(model(x)).argmax(axis=1)
    assert classes.tolist() == predicted.tolist()
    assert np.allclose(grads, kernel[:, classes].T, atol=1e-6)
    grads2, _ = dlgen.saliency(model, x, class_index=[0, 1, 2, 0, 1])
    assert np.allclose(grads2, kernel[:, [0, 1, 2, 0, 1]].T, atol=1e-6)


def test_plot_confusion_rows_are_true_classes():
    ax, m = dlgen.plot_confusion([0, 1, 2, 2], [0, 2, 2, 2], ["a", "b", "c"], normalize=False)
    assert m.loc["b", "c"] == 1 and m.loc["c", "c"] == 2 and m.values.sum() == 4
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    plt.close(ax.figure)
