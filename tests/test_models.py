"""Tests for minstn.models.mnist: the sizes the demos build and the baselines they match."""
import numpy as np
import pytest

from minstn import Tensor
from minstn.models import CNN, STCNN, classifier, classifier_params, matched_cnn


@pytest.mark.parametrize("channels", [(32, 64), (16, 32), (8, 12)])
@pytest.mark.parametrize("size", [28, (42, 42), (42, 84)])
def test_classifier_params_counts_the_built_network(channels, size):
    net = classifier(2, size, hidden=37, n_classes=19, channels=channels)
    assert net.num_parameters() == classifier_params(2, size, 37, 19, channels)


def test_classifier_channels_set_the_conv_widths_and_output_shape():
    net = classifier(1, (42, 84), hidden=20, n_classes=19, dropout=0.0, channels=(6, 10))
    assert net[0].weight.shape == (6, 1, 5, 5) and net[3].weight.shape == (10, 6, 5, 5)
    x = np.random.default_rng(0).random((3, 1, 42, 84), dtype=np.float32)
    assert net(Tensor(x)).shape == (3, 19)


@pytest.mark.parametrize("channels", [(32, 64), (16, 32)])
def test_matched_cnn_takes_the_stns_conv_widths_and_is_within_ten_percent(channels):
    stn = STCNN(canvas=(42, 84), st_out=(42, 42), n_classes=19, n_transformers=2,
                theta_init=("identity", "identity"), loc_hidden=120, channels=channels,
                generator=np.random.default_rng(0))
    cnn = matched_cnn(stn, (42, 84), n_classes=19)
    assert cnn.head[0].weight.shape[0] == channels[0]
    assert cnn.head[3].weight.shape[0] == channels[1]
    assert stn.head[3].weight.shape[:2] == (channels[1], channels[0])
    assert abs(cnn.num_parameters() / stn.num_parameters() - 1) <= 0.1


def test_cnn_keeps_its_generator_keyword():
    """CNN passes the generator by keyword: two CNNs from equal generators are equal."""
    a = CNN(28, hidden=16, generator=np.random.default_rng(3))
    b = CNN(28, hidden=16, generator=np.random.default_rng(3))
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)


@pytest.mark.parametrize("size", [42, (42, 84), (43, 60)])
def test_strided_localization_net_builds_for_its_input_and_matches_plain_sizes(size):
    """The stride-2 first layer replaces conv + pool; on 42 and 84 the sizes agree."""
    from minstn.models import localization_net
    h, w = (size, size) if isinstance(size, int) else size
    x = Tensor(np.random.default_rng(0).random((2, 1, h, w), dtype=np.float32))
    plain = localization_net(1, size, hidden=16)
    strided = localization_net(1, size, hidden=16, strided=True)
    assert strided(x).shape == plain(x).shape == (2, 16)
    assert strided[0](x).shape[2:] == ((h - 7) // 2 + 1, (w - 7) // 2 + 1)
    assert not any(type(m).__name__ == "MaxPool2d" for m in list(strided)[:2])
    if h % 2 == 0 and w % 2 == 0:
        assert strided.num_parameters() == plain.num_parameters()


def test_stcnn_loc_strided_reaches_every_localization_net():
    stn = STCNN(canvas=(42, 84), st_out=(42, 42), n_transformers=2, loc_strided=True,
                generator=np.random.default_rng(0))
    assert all(st.localization[0].stride == 2 for st in stn.transformers)


def test_convnet_builds_its_layer_list_and_counts_its_work():
    from minstn.models.mnist import ConvNet
    net = ConvNet(42, convs=[(8, 5, 1, 2), (16, 3, 2, 1)], head="fc", hidden=20,
                  generator=np.random.default_rng(0))
    x = Tensor(np.random.default_rng(0).random((3, 1, 42, 42), dtype=np.float32))
    assert net(x).shape == (3, 10)
    # conv 38×38×8×25, then 19 → conv stride 2 → 9×9×16×8×9, fc 16·81·20, 20·10
    assert net.multiply_adds() == 38 * 38 * 8 * 25 + 9 * 9 * 16 * 8 * 9 + 16 * 81 * 20 + 200
    gap = ConvNet(42, convs=[(8, 5, 1, 2)], head="gap")
    assert gap(x).shape == (3, 10) and gap.num_parameters() == 8 * 25 + 8 + 8 * 10 + 10
    with pytest.raises(ValueError, match="head"):
        ConvNet(42, head="attention")
    with pytest.raises(ValueError, match="to nothing"):
        ConvNet(12, convs=[(8, 5, 1, 2), (8, 5, 1, 2)])


def test_neurons_counts_every_layer_output_once():
    from minstn import nn
    from minstn.models.mnist import ConvNet, neurons
    net = ConvNet(12, convs=[(4, 3, 1, 2)], head="fc", hidden=7)
    # conv 4×10×10, pool 4×5×5, fc 7, fc 10 (ReLU and dropout are not new neurons)
    assert neurons(net, (1, 12, 12)) == 400 + 100 + 7 + 10
    assert nn.Conv2d.forward.__name__ == "forward"                   # patched back
    st = STCNN(canvas=42, st_out=28)
    assert neurons(st, (1, 42, 42)) > neurons(st.head, (1, 28, 28))


@pytest.mark.parametrize("build", [
    lambda: STCNN(canvas=42, st_out=28, theta_init="identity", generator=np.random.default_rng(1)),
    lambda: CNN(28, hidden=16, generator=np.random.default_rng(1)),
])
def test_models_keep_the_arguments_that_rebuild_them(build, tmp_path):
    import minstn
    model = build()
    minstn.save_model(model, tmp_path / "m.npz", epoch=3)
    back = minstn.load_model(tmp_path / "m.npz")
    assert type(back) is type(model) and back.config == model.config
    for (n, p), (_, q) in zip(model.named_parameters(), back.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=n)
    assert minstn.serialization.model_header(tmp_path / "m.npz")["meta"] == {"epoch": 3}
