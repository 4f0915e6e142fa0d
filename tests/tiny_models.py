"""Tiny Hugging Face models built on the fly (no downloads): shared by the test folders."""

from __future__ import annotations

from pathlib import Path

import torch

WORDS = sorted({w for t in (
    "a wonderful heartfelt film with great acting brilliant moving and funny loved every "
    "minute superb story delightful cast excellent charming movie highly recommended "
    "dull boring mess terrible awful script waste of time painfully slow hated worst "
    "dreadful tedious lifeless badly directed stupid plot wooden performances"
).split() for w in [t]})


def make_tiny_bert(folder: Path, dropout: float = 0.1) -> Path:
    """A 2-layer, 16-wide BERT with a small word vocabulary, saved to ``folder``."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    cfg = BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
                     hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(folder)
    return folder


def make_tiny_vit(folder: Path) -> Path:
    from transformers import ViTConfig, ViTModel

    cfg = ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=2,
                    num_attention_heads=2, intermediate_size=32)
    torch.manual_seed(0)
    ViTModel(cfg).save_pretrained(folder)
    return folder


def make_squares(n: int = 160, seed: int = 0):
    """16x16 RGB images ``(n, 16, 16, 3)`` with a bright patch top-left and/or bottom-right,
    independently, and the 0/1 indicators of the two patches ``(n, 2)``: a tiny, learnable
    multi-label (or regression: the mean brightness) problem."""
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.integers(0, 60, (n, 16, 16, 3)).astype(np.uint8)
    Y = rng.integers(0, 2, (n, 2))
    X[Y[:, 0] == 1, :6, :6] = 250
    X[Y[:, 1] == 1, 10:, 10:] = 250
    return X, Y
