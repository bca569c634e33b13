"""The decoder-only language-model task: corpus split by whole works, byte-level BPE, GPT, loss lower is better."""

from __future__ import annotations

import gzip
import math

import pytest
import torch

from optbench import runner
from optbench.errors import OptbenchError
from optbench.optim.muon_hybrid import split_for_muon
from optbench.tasks import build_task
from optbench.tasks.gpt import GPT
from optbench.tasks.text_corpus import split_works, strip_gutenberg

WORDS = "the quick brown fox jumps over a lazy dog while seven wizards quietly hex bold jumping zebras".split()


def make_corpus(root, works: int = 5, chars: int = 6000):
    """A folder of small works, one gzip'd, one with Project Gutenberg's header and footer."""
    root.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    for w in range(works):
        idx = torch.randint(len(WORDS), (chars // 5,), generator=gen).tolist()
        text = f"WORK {w}\n" + " ".join(WORDS[i] for i in idx) + "\n"
        if w == 0:
            text = "Project Gutenberg licence blah\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\n" + text
            text += "*** END OF THE PROJECT GUTENBERG EBOOK X ***\nmore licence text\n"
        if w == 1:
            with gzip.open(root / f"work{w}.txt.gz", "wt", encoding="utf-8") as fh:
                fh.write(text)
        else:
            (root / f"work{w}.txt").write_text(text)
    return root


def lm_config(make_config, corpus, *overrides):
    return make_config(
        "task=lm_tiny",
        f"task.data_dir={corpus}",
        "task.val_works=[work3]",
        "task.test_works=[work4]",
        "task.train_chars=null",
        "task.eval_tokens=null",
        "task.vocab_size=300",
        *overrides,
    )


def test_gutenberg_header_and_footer_are_stripped():
    text = "licence\n*** START OF THE PROJECT GUTENBERG EBOOK HAMLET ***\nTo be, or not to be\n*** END OF THIS PROJECT "
    assert strip_gutenberg(text + "GUTENBERG EBOOK ***\nlicence") == "To be, or not to be\n"
    assert strip_gutenberg("no header here\n") == "no header here\n"


def test_works_are_held_out_whole_and_bad_names_list_the_works():
    works = {"a": "A", "b": "B", "c": "C", "d": "D"}
    assert split_works(works, ["b"], ["c"]) == {"train": ["A", "D"], "val": ["B"], "test": ["C"]}
    with pytest.raises(OptbenchError, match=r"task.val_works names \['hamlet'\].*its works are: a, b, c, d"):
        split_works(works, ["hamlet"], ["c"])
    with pytest.raises(OptbenchError, match=r"\['b'\] are in both task.val_works and task.test_works"):
        split_works(works, ["b"], ["b", "c"])
    with pytest.raises(OptbenchError, match="task.test_works is empty"):
        split_works(works, ["b"], [])


def test_the_task_reads_a_text_folder_and_never_splits_a_work(tmp_path, make_config):
    corpus = make_corpus(tmp_path / "corpus")
    cfg = lm_config(make_config, corpus)
    task = build_task(cfg.task, None, torch.device("cpu"), 0, str(tmp_path / "cache"))
    task.load()
    decode = task.tokenizer.decode
    val, test = decode(task.streams["val"].tolist()), decode(task.streams["test"].tolist())
    assert val.startswith("WORK 3\n") and "WORK" not in val[1:] and test.startswith("WORK 4\n")
    train = decode(task.streams["train"].tolist(), skip_special_tokens=False)
    works = [w for w in train.split("<|endoftext|>") if w]  # one end-of-text token after each work
    assert [w.splitlines()[0] for w in works] == ["WORK 0", "WORK 1", "WORK 2"]
    assert "Gutenberg" not in train and "licence" not in train  # header and footer stripped
    assert list((tmp_path / "cache").glob("bytebpe-*.json"))  # the tokenizer is cached...
    again = build_task(cfg.task, None, torch.device("cpu"), 0, str(tmp_path / "cache"))
    again.load()
    assert torch.equal(again.streams["train"], task.streams["train"])  # ...and reused
    # training windows are contiguous context+1 slices of the stream, reshuffled per epoch and reproducible
    stream, context = task.streams["train"], cfg.task.context
    first = next(task.train_batches(0)).tensors[0]
    assert first.shape == (cfg.task.batch_size, context + 1)
    for window in first:
        start = next(i for i in range(len(stream)) if torch.equal(stream[i : i + context + 1], window))
        assert start >= 0
    assert torch.equal(first, next(task.train_batches(0)).tensors[0])
    assert not torch.equal(first, next(task.train_batches(1)).tensors[0])


def test_a_run_logs_loss_perplexity_and_tokens_per_second_lower_is_better(tmp_path, make_config):
    corpus = make_corpus(tmp_path / "corpus")
    summary = runner.run(lm_config(make_config, corpus, "task.max_steps=20"))
    assert summary["status"] == "finished" and summary["unit"] == "tokens" and summary["tokens_per_s"] > 0
    assert summary["metric_name"] == "loss" and summary["higher_is_better"] is False
    assert summary["final_metric"] == summary["final_loss"]
    assert summary["final_perplexity"] == pytest.approx(math.exp(summary["final_loss"]))
    assert summary["final_eval_loss"] < math.log(300)  # better than a uniform guess over the vocabulary
    assert 0 < summary["final_unigram_loss"] < math.log(300)


def test_muon_takes_the_hidden_matrices_and_leaves_the_tied_embedding_to_adamw():
    model = GPT(vocab_size=100, context=16, d_model=32, heads=2, layers=2, ffn=64)
    hidden, rest = split_for_muon(model)
    names = {id(p): n for n, p in model.named_parameters()}
    matrices = ("attn.qkv.weight", "attn.proj.weight", "mlp.0.weight", "mlp.2.weight")
    assert sorted(names[id(p)] for p in hidden) == sorted(f"blocks.{i}.{m}" for i in range(2) for m in matrices)
    assert "embed.weight" in {names[id(p)] for p in rest}


def test_gpt_is_causal_and_tied():
    torch.manual_seed(0)
    model = GPT(vocab_size=50, context=8, d_model=16, heads=2, layers=1, ffn=32).eval()
    x = torch.randint(50, (1, 8))
    y = x.clone()
    y[0, 5:] = (y[0, 5:] + 1) % 50
    torch.testing.assert_close(model(x)[:, :5], model(y)[:, :5])  # a position never sees later tokens
    assert not torch.allclose(model(x)[:, 5:], model(y)[:, 5:])
    # tied: one 50 x 16 matrix embeds and scores tokens (+ one block's 2112 and the final norm's 32 parameters)
    assert sum(p.numel() for p in model.parameters()) == 50 * 16 + 2112 + 32
    assert not any(isinstance(m, torch.nn.Linear) and m.out_features == 50 for m in model.modules())
    z = torch.tensor([[1, 2, 3, 4]])
    before = model(z).detach()
    with torch.no_grad():
        model.embed.weight[7] += 1.0  # token 7 is not in the input, so only its own score can move
    after = model(z).detach()
    assert not torch.allclose(before[..., 7], after[..., 7])
    torch.testing.assert_close(before[..., :7], after[..., :7])


def test_lm_tiny_on_shakespeare_trains_in_seconds(tmp_path, make_config, data_root):
    cfg = make_config("task=lm_tiny", f"data_root={data_root}")
    summary = runner.run(cfg)
    assert summary["status"] == "finished" and summary["steps"] == 30
    assert summary["final_eval_loss"] < math.log(cfg.task.vocab_size)
