"""The translation task: data checks, subwords, masks, incremental decoding, beam search, BLEU from decoded text."""

from __future__ import annotations

import gzip
import random

import pytest
import torch
from omegaconf import OmegaConf
from sacrebleu.metrics import BLEU

from optbench.errors import OptbenchError
from optbench.paths import config_dir
from optbench.tasks.base import Batch
from optbench.tasks.batching import pad, token_batches
from optbench.tasks.decoding import beam_search, greedy_decode, naive_greedy_decode
from optbench.tasks.parallel_data import hub_rows_to_pairs, load_parallel
from optbench.tasks.subwords import BOS, EOS, PAD, load_or_train_tokenizer
from optbench.tasks.transformer import Seq2SeqTransformer
from optbench.tasks.transformer_mt import TransformerMT

DE = "ein der die das mann frau hund katze rot blau läuft springt auf im park wasser ball kind".split()
EN = "a the the the man woman dog cat red blue runs jumps on in park water ball child".split()


def synthetic_pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """German-ish word sequences and their word-by-word 'translations', capitalised and full-stopped."""
    rng = random.Random(seed)
    src, tgt = [], []
    for _ in range(n):
        idx = [rng.randrange(len(DE)) for _ in range(rng.randint(3, 9))]
        src.append(" ".join(DE[i] for i in idx).capitalize() + ".")
        tgt.append(" ".join(EN[i] for i in idx).capitalize() + ".")
    return src, tgt


def write_corpus(folder, splits: dict[str, tuple[list[str], list[str]]], names=None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    names = names or {"train": "train", "val": "val", "test": "test_2016_flickr"}
    for split, (de, en) in splits.items():
        for lang, lines in (("de", de), ("en", en)):
            with gzip.open(folder / f"{names[split]}.{lang}.gz", "wt", encoding="utf-8") as fh:
                fh.write("\n".join(lines) + "\n")


def task_cfg(**overrides):
    base = OmegaConf.load(config_dir() / "task" / "transformer_mt.yaml")
    tiny = OmegaConf.load(config_dir() / "task" / "transformer_mt_tiny.yaml")
    tiny.pop("defaults")
    cfg = OmegaConf.merge(base, tiny)
    for k, v in overrides.items():
        OmegaConf.update(cfg, k, v)
    return cfg


def small_model(vocab=50, pre_norm=True, seed=0):
    torch.manual_seed(seed)
    model = Seq2SeqTransformer(
        vocab, PAD, d_model=32, heads=4, enc_layers=2, dec_layers=2, ffn=64, dropout=0.1, pre_norm=pre_norm
    )
    return model.eval()


def random_src(batch=6, vocab=50, seed=1):
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(3, 11, (batch,), generator=g).tolist()
    return pad([torch.randint(4, vocab, (n,), generator=g).tolist() + [EOS] for n in lens], PAD)


# --- data -------------------------------------------------------------------------------------------------------


def test_reads_raw_files_and_rejects_bad_data(tmp_path):
    pairs = synthetic_pairs(12)
    write_corpus(tmp_path / "ok", {"train": pairs, "val": pairs, "test": pairs})
    data = load_parallel(task_cfg(data_dir=str(tmp_path / "ok")), None)
    assert data["train"] == pairs and data["test"][1][0] == pairs[1][0]
    reverse = load_parallel(task_cfg(data_dir=str(tmp_path / "ok"), src="en", tgt="de"), None)
    assert reverse["val"] == (pairs[1], pairs[0])

    write_corpus(tmp_path / "mismatch", {"train": (pairs[0], pairs[1][:-1]), "val": pairs, "test": pairs})
    with pytest.raises(OptbenchError, match=r"train.de.gz has 12 lines but train.en.gz has 11"):
        load_parallel(task_cfg(data_dir=str(tmp_path / "mismatch")), None)

    write_corpus(tmp_path / "nosplit", {"train": pairs, "val": pairs})
    with pytest.raises(OptbenchError, match=r"has no test_2016_flickr.de\[.gz\]"):
        load_parallel(task_cfg(data_dir=str(tmp_path / "nosplit")), None)

    with pytest.raises(OptbenchError, match="does not exist"):
        load_parallel(task_cfg(data_dir=str(tmp_path / "absent")), None)
    with pytest.raises(OptbenchError, match="two different languages"):
        load_parallel(task_cfg(data_dir=str(tmp_path / "ok"), src="en", tgt="en"), None)


def test_hub_rows_flat_and_nested():
    flat = [{"de": "Hallo Welt.", "en": "Hello world."}]
    nested = [{"translation": {"de": "Hallo Welt.", "en": "Hello world."}}]
    expected = (["Hallo Welt."], ["Hello world."])
    assert hub_rows_to_pairs(flat, "de", "en") == hub_rows_to_pairs(nested, "de", "en") == expected


def test_real_multi30k_sizes(data_root):
    data = load_parallel(task_cfg(data_dir=None, data_subdir="multi30k"), data_root)
    assert [len(data[s][0]) for s in ("train", "val", "test")] == [29000, 1014, 1000]


# --- subwords ---------------------------------------------------------------------------------------------------


def test_tokenizer_round_trip_and_cache(tmp_path):
    src, tgt = synthetic_pairs(300)
    texts = src + tgt + ["Zwei Männer, ein Hund: 3 Bälle (rot)!", "Ein Mädchen klettert."]
    tok = load_or_train_tokenizer(texts, 200, tmp_path)
    for line in texts[:50] + texts[-2:]:
        ids = tok.encode(line).ids
        assert len(ids) < len(line)  # subwords, not characters
        assert tok.decode(ids) == line
    cached = list(tmp_path.glob("bpe-*.json"))
    assert len(cached) == 1
    again = load_or_train_tokenizer(texts, 200, tmp_path)
    assert again.get_vocab() == tok.get_vocab()
    load_or_train_tokenizer(texts, 150, tmp_path)  # other settings, other file
    load_or_train_tokenizer(texts[:-1], 200, tmp_path)  # other text, other file
    assert len(list(tmp_path.glob("bpe-*.json"))) == 3
    assert tok.token_to_id("<pad>") == PAD and tok.token_to_id("<s>") == BOS and tok.token_to_id("</s>") == EOS


# --- model, masks, decoding -------------------------------------------------------------------------------------


@pytest.mark.parametrize("pre_norm", [True, False])
def test_padding_does_not_change_the_loss(pre_norm):
    model = small_model(pre_norm=pre_norm)
    short_src, short_tgt = [5, 6, 7, EOS], [BOS, 8, 9, EOS]
    long_src, long_tgt = [5, 9, 9, 9, 9, 9, 9, 6, EOS], [BOS, 8, 8, 8, 8, 8, 8, 9, EOS]
    task = TransformerMT.__new__(TransformerMT)
    task.cfg = OmegaConf.create({"label_smoothing": 0.1})
    alone = task.loss(model, Batch((pad([short_src], PAD), pad([short_tgt], PAD)), 3))
    padded_src, padded_tgt = pad([short_src, long_src], PAD), pad([short_tgt, long_tgt], PAD)
    logits = model(padded_src, padded_tgt[:, :-1])
    torch.testing.assert_close(logits[0, :3], model(pad([short_src], PAD), pad([short_tgt], PAD)[:, :-1])[0])
    batch_loss_first = torch.nn.functional.cross_entropy(
        logits[0], padded_tgt[0, 1:], ignore_index=PAD, label_smoothing=0.1
    )
    torch.testing.assert_close(batch_loss_first, alone)


def test_incremental_decoding_equals_full_decoding():
    model = small_model(seed=3)
    src = random_src()
    memory, src_mask = model.encode(src)
    prefix = torch.randint(4, 50, (src.size(0), 7), generator=torch.Generator().manual_seed(0))
    full = model.decode(prefix, memory, src_mask)
    cache = model.new_cache()
    steps = [model.decode(prefix[:, t : t + 1], memory, src_mask, cache=cache, start=t) for t in range(7)]
    torch.testing.assert_close(torch.cat(steps, 1), full, rtol=1e-5, atol=1e-5)
    # and greedy search through the cache gives the same tokens as recomputing every prefix
    assert greedy_decode(model, src, BOS, EOS, 15) == naive_greedy_decode(model, src, BOS, EOS, 15)


def test_beam_one_equals_greedy_and_wider_beams_score_no_worse():
    model = small_model(seed=4)
    src = random_src(batch=8, seed=2)
    greedy = greedy_decode(model, src, BOS, EOS, 12)
    assert beam_search(model, src, BOS, EOS, 12, beam=1, alpha=0.6) == greedy
    assert any(len(h) > 0 for h in greedy)

    def logprob(i, hyp):
        tgt = torch.tensor([[BOS, *hyp, EOS]])
        memory, mask = model.encode(src[i : i + 1])
        lp = model.decode(tgt[:, :-1], memory, mask).log_softmax(-1)
        return lp[0].gather(1, tgt[0, 1:, None]).sum().item()

    beam4 = beam_search(model, src, BOS, EOS, 12, beam=4, alpha=0.0)
    for i in range(src.size(0)):  # alpha=0 ranks by log-probability: beam 4 never finds a worse finished hypothesis
        if len(greedy[i]) < 12 and len(beam4[i]) < 12:
            assert logprob(i, beam4[i]) >= logprob(i, greedy[i]) - 1e-4


def test_token_batches_respect_the_budget_and_cover_every_pair():
    g = torch.Generator().manual_seed(0)
    src = torch.randint(1, 30, (500,), generator=g).tolist()
    tgt = torch.randint(1, 30, (500,), generator=g).tolist()
    batches = token_batches(src, tgt, 256, torch.Generator().manual_seed(1))
    assert sorted(i for b in batches for i in b) == list(range(500))
    assert all(max(max(src[i], tgt[i]) for i in b) * len(b) <= 256 for b in batches)
    assert len(batches) == len(token_batches(src, tgt, 256, torch.Generator().manual_seed(2)))


# --- BLEU from decoded text ---------------------------------------------------------------------------------------


def test_overfit_model_scores_high_bleu_on_its_training_pairs(tmp_path):
    pairs = synthetic_pairs(50, seed=7)
    write_corpus(tmp_path / "data", {"train": pairs, "val": pairs, "test": pairs})
    cfg = task_cfg(
        data_dir=str(tmp_path / "data"),
        train_subset=None,
        eval_subset=None,
        vocab_size=120,
        max_tokens=4096,
        **{"eval.beam": 2},
    )
    task = TransformerMT(cfg, None, torch.device("cpu"), seed=0, cache_dir=str(tmp_path / "cache"))
    task.load()
    torch.manual_seed(0)
    model = task.build_model()
    before = task.evaluate(model, final=True)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for epoch in range(300):
        for batch in task.train_batches(epoch):
            opt.zero_grad()
            task.loss(model, batch).backward()
            opt.step()
        if epoch % 50 == 49 and task.evaluate(model)["bleu"] > 90:
            break
    after = task.evaluate(model, final=True)
    assert before["bleu"] < 20 < 80 < after["bleu"]
    model.eval()
    hyps = task.translate(model, pairs[0], beam=2)
    assert after["bleu"] == pytest.approx(BLEU().corpus_score(hyps, [pairs[1]]).score)
    assert after["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    assert sum(h == r for h, r in zip(hyps, pairs[1], strict=True)) > 40  # detokenised text equals the references
    # beside the test split's beam BLEU, the validation's as decoded during training (greedy): what time-to-target
    # reads at the end
    greedy = task.translate(model, pairs[0], beam=1)
    assert after["eval_bleu"] == pytest.approx(BLEU().corpus_score(greedy, [pairs[1]]).score)
    assert after["eval_chrf"] > 0 and "eval_bleu" not in task.evaluate(model)


def test_tiny_task_end_to_end_from_the_command_line(tmp_path, data_root):
    from .test_cli import optbench, summaries

    out = optbench(tmp_path, "task=transformer_mt_tiny", f"data_root={data_root}")
    assert out.returncode == 0, out.stderr
    [s] = summaries(tmp_path)
    assert s["status"] == "finished" and s["unit"] == "tokens" and s["tokens_per_s"] > 0
    assert s["metric_name"] == "bleu" and s["final_bleu"] == s["final_metric"] >= 0
    assert s["final_bleu_signature"].startswith("nrefs:1|case:mixed") and s["final_chrf"] > 0
    assert s["final_eval_bleu"] >= 0 and s["final_eval_loss"] > 0  # the validation's at the end, beside the test's
    assert s["state_bytes"] == s["state_bytes_analytic"] and (tmp_path / s["wandb_dir"]).is_dir()  # relative to cwd
    assert "test at step" in out.stderr + out.stdout
