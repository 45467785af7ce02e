"""CoOp-style learnable prompts around a frozen open_clip text tower.

Two small modules wired with explicit arguments (no global config):

- ``TextEncoder(clip_model)``: the frozen text transformer of an open_clip ``CLIP``. It maps token
  *embeddings* ``[B, L, W]`` (plus the token ids, to find the end-of-text position) to text features
  ``[B, E]``: ``x = ln_final(transformer(e + pos)) [eot] @ text_projection``.
- ``PromptLearner(class_names, token_embedding, tokenizer, n_prompts, n_ctx, shared_context)``: for
  class ``c`` and prompt ``n`` the input sequence is ``[SOS] v_{c,n,1} .. v_{c,n,M} <name_c> . [EOT]``
  where the context vectors ``v`` (``M = n_ctx`` per prompt, width ``W``) are learnable and randomly
  initialised (``N(0, 0.02^2)``, CoOp), and the class-name tokens go through the frozen token
  embedding (``init_text="a photo of a"``: the context starts from that template's word embeddings
  plus the same noise, CoOp's initialisation). ``shared_context=True`` uses one context per prompt index shared by all classes
  (CoOp "unified context").

``PromptEncoder`` chains the two and returns L2-normalised prompt features ``G`` ``[C, N, E]``.
Because the text transformer uses a causal mask, tokens after the end-of-text token never influence
its output: the encoder cuts every batch to ``max(eot) + 1`` tokens, which is exact and makes the
text tower ~7x cheaper than the padded 77 tokens.

``load_text_tower(model, pretrained, weights_file, seed)`` returns a ``TextTower`` (model, tokenizer,
``pretrained`` flag). With no weights offline, the ``otstudio-tiny`` config with seeded random frozen
weights is the real code path; class-name semantics are then absent and prompts learn only from the
marked examples (``TextTower.pretrained`` is False so callers can say so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["TextTower", "load_text_tower", "TextEncoder", "PromptLearner", "PromptEncoder"]


@dataclass(frozen=True)
class TextTower:
    """A frozen open_clip model + tokenizer; ``pretrained`` says whether real weights were loaded."""

    model: Any
    tokenizer: Any
    model_id: str
    pretrained: bool

    @property
    def embed_dim(self) -> int:
        proj = self.model.text_projection
        return int(proj.out_features if isinstance(proj, nn.Linear) else proj.shape[1])


def load_text_tower(
    model: str = "otstudio-tiny",
    pretrained: str | None = None,
    weights_file: str | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> TextTower:
    """Load an open_clip model for its text tower, frozen and in eval mode.

    ``model="otstudio-tiny"`` (default) with no weights gives deterministic random weights from
    ``seed``. Any other model is loaded through ``otcore.video.encoders.load_clip`` (which resolves
    pretrained tags and local weight files) when available, else ``open_clip`` directly.
    """
    import open_clip

    from otcore.video.model_configs import TINY_MODEL, register_model_configs

    register_model_configs()
    has_weights = bool(pretrained or weights_file)
    clip_model = tokenizer = None
    if has_weights:
        try:
            from otcore.video.encoders import load_clip

            enc = load_clip(model=model, pretrained=pretrained, weights_file=weights_file, device=device)
            clip_model, tokenizer = enc.model, enc.tokenizer
        except ImportError:
            clip_model = open_clip.create_model(model, pretrained=weights_file or pretrained)
    if clip_model is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            clip_model = open_clip.create_model(model, pretrained=None)
    if tokenizer is None:
        tokenizer = open_clip.get_tokenizer(model)
    clip_model.eval()
    for p in clip_model.parameters():
        p.requires_grad_(False)
    if device is not None:
        clip_model.to(device)
    tag = pretrained or weights_file or (f"random-seed{seed}" if model == TINY_MODEL else "random")
    name = f"{model}:{tag}"
    return TextTower(model=clip_model, tokenizer=tokenizer, model_id=name, pretrained=has_weights)


class TextEncoder(nn.Module):
    """Frozen CLIP text transformer on prompt embeddings.

    ``forward(embeddings [B, L, W], tokens [B, L]) -> [B, E]``: add positional embeddings, run the
    causal transformer, final LayerNorm, take the end-of-text position (argmax of the token ids,
    CLIP's convention) and project. Parameters are frozen; gradients flow to ``embeddings``.
    """

    transformer: nn.Module
    positional_embedding: torch.Tensor
    ln_final: nn.Module
    text_projection: torch.Tensor | nn.Linear | None
    attn_mask: torch.Tensor | None

    def __init__(self, clip_model: Any) -> None:
        super().__init__()
        self.transformer = clip_model.transformer
        self.positional_embedding = clip_model.positional_embedding
        self.ln_final = clip_model.ln_final
        self.text_projection = clip_model.text_projection
        self.register_buffer("attn_mask", clip_model.attn_mask, persistent=False)
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, embeddings: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Text features ``[B, E]`` of prompt embeddings ``[B, L, W]`` (``tokens`` ``[B, L]`` ids)."""
        eot = tokens.argmax(dim=-1)
        length = int(eot.max().item()) + 1  # causal mask: later tokens cannot change the EOT output
        x: torch.Tensor = embeddings[:, :length] + self.positional_embedding[:length].to(embeddings.dtype)
        mask = self.attn_mask[:length, :length] if self.attn_mask is not None else None
        x = self.transformer(x, attn_mask=mask)
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), eot]
        proj = self.text_projection
        if proj is None:
            return x
        return proj(x) if isinstance(proj, nn.Linear) else x @ proj


class PromptLearner(nn.Module):
    """Learnable context vectors + class-name tokens (CoOp), ``N`` prompts per class.

    ``forward() -> (embeddings [C*N, L, W], tokens [C*N, L])`` in class-major order
    (row ``c*N + n`` is prompt ``n`` of class ``c``).
    """

    tokens: torch.Tensor
    prefix: torch.Tensor
    suffix: torch.Tensor

    def __init__(
        self,
        class_names: list[str],
        token_embedding: nn.Embedding,
        tokenizer: Any,
        n_prompts: int = 4,
        n_ctx: int = 4,
        shared_context: bool = False,
        init_std: float = 0.02,
        generator: torch.Generator | None = None,
        init_text: str | None = None,
    ) -> None:
        super().__init__()
        if not class_names:
            raise ValueError("need at least one class name")
        self.class_names = list(class_names)
        self.n_prompts = int(n_prompts)
        self.n_ctx = int(n_ctx)
        self.shared_context = bool(shared_context)
        width = int(token_embedding.weight.shape[1])
        C, N = len(class_names), self.n_prompts
        shape = (1 if shared_context else C, N, self.n_ctx, width)
        ctx = torch.randn(shape, generator=generator) * init_std
        if init_text:  # CoOp's "a photo of a" initialisation: the template's word embeddings + noise
            ids = tokenizer([init_text])[0]
            words = ids[1 : int(ids.argmax())][: self.n_ctx]
            with torch.no_grad():
                emb0 = token_embedding(words.to(token_embedding.weight.device)).detach().cpu()
            ctx[:, :, : emb0.shape[0]] += emb0.to(ctx.dtype)
        self.ctx = nn.Parameter(ctx.to(token_embedding.weight.device))
        placeholder = " ".join(["X"] * self.n_ctx)
        texts = [f"{placeholder} {name.replace('_', ' ')}." for name in class_names]
        tokens = tokenizer(texts).to(token_embedding.weight.device)  # [C, 77]
        with torch.no_grad():
            emb = token_embedding(tokens)  # [C, 77, W]
        self.register_buffer("tokens", tokens.repeat_interleave(N, dim=0), persistent=False)
        self.register_buffer("prefix", emb[:, :1].repeat_interleave(N, dim=0), persistent=False)
        self.register_buffer("suffix", emb[:, 1 + self.n_ctx :].repeat_interleave(N, dim=0), persistent=False)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompt token embeddings and ids for all classes and prompts."""
        C, N = self.n_classes, self.n_prompts
        ctx = self.ctx.expand(C, -1, -1, -1) if self.shared_context else self.ctx
        ctx = ctx.reshape(C * N, self.n_ctx, -1)
        emb = torch.cat([self.prefix, ctx.to(self.prefix.dtype), self.suffix], dim=1)
        return emb, self.tokens


class PromptEncoder(nn.Module):
    """``PromptLearner`` + ``TextEncoder``: ``forward() -> G [C, N, E]``, L2-normalised."""

    def __init__(self, learner: PromptLearner, encoder: TextEncoder) -> None:
        super().__init__()
        self.learner = learner
        self.encoder = encoder

    @classmethod
    def from_tower(
        cls,
        tower: TextTower,
        class_names: list[str],
        n_prompts: int = 4,
        n_ctx: int = 4,
        shared_context: bool = False,
        generator: torch.Generator | None = None,
        init_text: str | None = None,
    ) -> PromptEncoder:
        """Wire a learner and an encoder around ``tower`` (frozen weights are shared, not copied)."""
        learner = PromptLearner(
            class_names,
            tower.model.token_embedding,
            tower.tokenizer,
            n_prompts=n_prompts,
            n_ctx=n_ctx,
            shared_context=shared_context,
            generator=generator,
            init_text=init_text,
        )
        return cls(learner, TextEncoder(tower.model))

    def forward(self) -> torch.Tensor:
        """Normalised prompt features ``[C, N, E]``."""
        emb, tokens = self.learner()
        g = self.encoder(emb, tokens)
        g = torch.nn.functional.normalize(g.float(), dim=-1)
        return g.reshape(self.learner.n_classes, self.learner.n_prompts, -1)
