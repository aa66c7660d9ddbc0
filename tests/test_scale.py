"""Streaming simulation (batches, shards, the sampled integer check) and data-set sizes."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from pimsim.commands import main
from pimsim.data import load_dataset, synthetic_sizes
from pimsim.device import EventCounts
from pimsim.errors import PimsimError
from pimsim.simulate import SimulateConfig, run_pim, simulate, stream
from pimsim.simulate import run as run_module
from pimsim.simulate.stream import ShardResult, iter_batches, run_shard, shard_ranges
from pimsim.train import TrainConfig, run_training

TEST_IMAGES = 40


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny model on a synthetic set of ``TEST_IMAGES`` test images (8x8, 2 classes)."""
    out = tmp_path_factory.mktemp("scale_run")
    run_training(TrainConfig(dataset=f"synthetic:64,{TEST_IMAGES}", input_size=8,
                             num_classes=2, widths=(0.5, 1.0), epochs=1, batch_size=32),
                 out, quiet=True)
    return str(out / "model.pt")


def _graph_and_data(checkpoint: str):
    from pimsim.quantize import export_subnet_int
    from pimsim.simulate.quantized import load_quantized

    model, data, _ = load_quantized(checkpoint, 8, None, 1)
    graph = export_subnet_int(model, model.subnets[0], data.image_hw)  # the narrower
    return graph, data.test_x[:20].numpy(), data.test_y[:20].numpy()


def test_batches_and_shards_cover_every_image_once():
    assert [(s.start, s.stop) for s in iter_batches(3, 20, 8)] == [(3, 11), (11, 19), (19, 20)]
    assert [(r.start, r.stop) for r in shard_ranges(10, 4)] == [(0, 4), (4, 8), (8, 10)]
    assert shard_ranges(0, 4) == []


def test_shard_results_add_counts_and_events():
    a = ShardResult(3, 2, 1, 1, {"c1": EventCounts(row_reads=4)})
    b = ShardResult(5, 4, 0, 0, {"c1": EventCounts(row_reads=1), "fc": EventCounts(and2_senses=2)})
    total = a + b
    assert (total.images, total.correct_pim, total.checked, total.correct_int) == (8, 6, 1, 1)
    assert total.events == {"c1": EventCounts(row_reads=5), "fc": EventCounts(and2_senses=2)}


def test_streamed_shard_equals_one_batch_of_every_image(checkpoint):
    """Batches of 7 give the same correct count and the same summed events as one batch."""
    from pimsim.mapper import load_mapping

    graph, x, y = _graph_and_data(checkpoint)
    chip = load_mapping().chip
    out, events = run_pim(graph, graph.quantize_input(x), chip.rows, chip.cols)
    result = run_shard(graph, x, y, chip.rows, chip.cols, None, batch_size=7, check=len(x))
    assert result.images == result.checked == len(x)
    assert result.correct_pim == result.correct_int == int((out.argmax(1) == y).sum())
    assert result.events == events


def test_a_pim_output_differing_on_a_checked_image_is_caught(checkpoint, monkeypatch):
    graph, x, y = _graph_and_data(checkpoint)
    real = stream.run_pim

    def wrong_at(image: int):
        def run(g, xq, *args):
            out, events = real(g, xq, *args)
            if len(out) > image:
                out = out.copy()
                out[image, 0] += 1
            return out, events
        return run

    monkeypatch.setattr(stream, "run_pim", wrong_at(5))
    with pytest.raises(RuntimeError, match="differs from the integer executor"):
        run_shard(graph, x, y, 256, 256, None, batch_size=64, check=6)
    run_shard(graph, x, y, 256, 256, None, batch_size=64, check=5)  # image 5 not checked


def test_simulate_is_independent_of_batch_size_and_checks_a_sample(checkpoint, monkeypatch):
    base = SimulateConfig(checkpoint=checkpoint, bits=8, check_all=True, subnets=("w0.5",),
                          limit=20)
    full = simulate(base).subnets
    assert (full.images == 20).all() and (full.images_checked == 20).all()
    assert (full.top1_int == full.top1_pim).all()
    small = simulate(replace(base, batch_size=7)).subnets
    pd.testing.assert_frame_equal(small, full)
    monkeypatch.setattr(run_module, "CHECK_SAMPLE", 10)
    sampled = simulate(replace(base, check_all=False))
    assert (sampled.subnets.images_checked == 10).all() and sampled.subnets.top1_int.isna().all()
    pd.testing.assert_series_equal(sampled.subnets.top1_pim, full.top1_pim)
    from pimsim.simulate.run import summary_markdown

    assert "the first 10 (checked; `--check-all`" in summary_markdown(sampled)


@pytest.mark.slow
def test_process_pool_of_shards_gives_the_same_rows(checkpoint, monkeypatch):
    monkeypatch.setattr(run_module, "SHARD_IMAGES", 16)  # 3 shards per sub-net
    base = SimulateConfig(checkpoint=checkpoint, bits=8, check_all=True)
    pooled = simulate(replace(base, jobs=2)).subnets
    pd.testing.assert_frame_equal(pooled, simulate(base).subnets)


def test_limit_beyond_the_test_set_is_a_one_line_error(checkpoint, tmp_path, capsys):
    argv = ["simulate", "--checkpoint", checkpoint, "--bits", "8", "--out", str(tmp_path / "s")]
    assert main([*argv, "--limit", str(TEST_IMAGES + 1)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"pimsim simulate: error: --limit: {TEST_IMAGES + 1} is more than the "
                           f"{TEST_IMAGES} test images of synthetic")
    assert not (tmp_path / "s").exists()


def test_synthetic_sizes():
    data = load_dataset("synthetic:12,30", input_size=8, num_classes=3)
    assert (len(data.train_y), len(data.test_y)) == (12, 30)
    assert data.test_x.shape == (30, 3, 8, 8)
    assert synthetic_sizes("synthetic") == (64, 16)
    for bad in ("synthetic:12", "synthetic:0,5", "synthetic:a,b", "synthetic:1,2,3"):
        with pytest.raises(PimsimError, match=f"--dataset: {bad}: give synthetic:TRAIN,TEST"):
            load_dataset(bad, input_size=8)
    with pytest.raises(PimsimError, match="^--dataset: the synthetic data set"):
        load_dataset("synthetic:1000000,1", input_size=224)


def test_help_states_the_defaults_in_force():
    from pimsim.commands import build_parser

    parser = build_parser()
    text = parser._subparsers._group_actions[0].choices["simulate"].format_help()
    text = " ".join(text.split())
    assert f"(default: {run_module.BATCH_SIZE})" in text
    assert f"(default: the first {run_module.CHECK_SAMPLE};" in text
    assert SimulateConfig().batch_size == run_module.BATCH_SIZE


def test_bad_batch_size_and_executor_are_one_line_errors():
    with pytest.raises(PimsimError, match="--batch-size: must be an integer >= 1"):
        SimulateConfig(checkpoint="x", batch_size=0).validate()
    with pytest.raises(PimsimError, match="--executor: unknown executor 'ray'"):
        SimulateConfig(checkpoint="x", executor="ray").validate()
    with pytest.raises(PimsimError, match="--scheduler: only with --executor dask"):
        SimulateConfig(checkpoint="x", scheduler="tcp://h:1").validate()


def test_no_image_count_sized_array_is_kept(checkpoint, monkeypatch):
    """Every batch the kernel sees holds at most ``batch_size`` images."""
    seen = []
    real = stream.run_pim

    def spy(g, xq, *args):
        seen.append(len(xq))
        return real(g, xq, *args)

    monkeypatch.setattr(stream, "run_pim", spy)
    simulate(SimulateConfig(checkpoint=checkpoint, bits=8, batch_size=8, subnets=("w0.5",),
                            limit=20))
    assert seen == [8, 8, 4]
    assert np.sum(seen) == 20
