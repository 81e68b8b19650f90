"""Confidence rater that decides which SFM action tokens AFM regenerates (AsyncVLA Sec. 3.2).

The rater reads the vision-language context and the first-round (SFM) chunk and scores each
action token with p_l ∈ (0, 1); tokens with p_l < T are masked for regeneration (Eq. (3)). It is
trained against relative pseudo labels built from the SFM chunk's per-token error (Eq. (6)).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from asyncvla_refiner.flow_matching import check_actions


class ConfidenceRater(nn.Module):
    """Transformer rater p = σ(head(Enc([C(context); A(actions)])))[action positions] (Sec. 3.2).

    Context tokens are projected to ``hidden_size``; actions are linearly projected into the same
    space. The encoder uses full (bidirectional) attention over the concatenation so each token's
    confidence depends on the VL information and on the actions before and after it. A learned
    position embedding over action indices and a learned context/action type embedding are added
    because attention alone is permutation-equivariant and confidence depends on where a token
    sits in the chunk.

    Args:
        context_dim: width of the VL context embeddings.
        action_dim: action dimension D.
        hidden_size: transformer width (divisible by ``num_heads``).
        num_layers: number of encoder layers.
        num_heads: attention heads per layer.
        max_chunk_length: longest chunk L the position embedding covers.
    """

    def __init__(
        self,
        *,
        context_dim: int,
        action_dim: int,
        hidden_size: int = 128,
        num_layers: int = 2,
        num_heads: int = 4,
        max_chunk_length: int = 64,
    ) -> None:
        super().__init__()
        for name, value in (
            ("context_dim", context_dim),
            ("action_dim", action_dim),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
            ("num_heads", num_heads),
            ("max_chunk_length", max_chunk_length),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if hidden_size % num_heads:
            raise ValueError(
                f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads})"
            )
        self.context_dim = context_dim
        self.action_dim = action_dim
        self.max_chunk_length = max_chunk_length
        self.context_proj = nn.Linear(context_dim, hidden_size)
        self.action_proj = nn.Linear(action_dim, hidden_size)
        self.action_position = nn.Embedding(max_chunk_length, hidden_size)
        self.token_type = nn.Embedding(2, hidden_size)  # 0 = context, 1 = action
        layer = nn.TransformerEncoderLayer(
            d_model=hidden_size,
            nhead=num_heads,
            dim_feedforward=4 * hidden_size,
            # No dropout: the rater must give the same mask in train and eval mode, and its
            # training set (pseudo labels from a frozen backbone) is not what dropout regularises.
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden_size)
        self.rate_head = nn.Linear(hidden_size, 1)

    def forward(
        self,
        context: Tensor,
        actions: Tensor,
        *,
        context_padding_mask: Tensor | None = None,
    ) -> Tensor:
        """Confidence p (B, L) in (0, 1) for each action token.

        Args:
            context: VL token embeddings (B, P, context_dim).
            actions: SFM action chunk (B, L, action_dim).
            context_padding_mask: optional (B, P) bool, True marks padded context tokens, which
                are excluded from attention.
        """
        check_actions("actions", actions)
        if context.dim() != 3 or context.shape[-1] != self.context_dim:
            raise ValueError(
                f"context must have shape (B, P, {self.context_dim}), got {tuple(context.shape)}"
            )
        batch, length, action_dim = actions.shape
        if context.shape[0] != batch:
            raise ValueError(f"context batch {context.shape[0]} != actions batch {batch}")
        if action_dim != self.action_dim:
            raise ValueError(f"actions last dim {action_dim} != action_dim {self.action_dim}")
        if length > self.max_chunk_length:
            raise ValueError(
                f"chunk length {length} exceeds max_chunk_length {self.max_chunk_length}"
            )
        num_context = context.shape[1]

        positions = torch.arange(length, device=actions.device)
        ctx = self.context_proj(context) + self.token_type.weight[0]
        act = (
            self.action_proj(actions) + self.action_position(positions) + self.token_type.weight[1]
        )
        tokens = torch.cat([ctx, act], dim=1)

        key_padding = None
        if context_padding_mask is not None:
            if context_padding_mask.dtype != torch.bool:
                raise TypeError(
                    f"context_padding_mask must be bool, got dtype {context_padding_mask.dtype}"
                )
            if tuple(context_padding_mask.shape) != (batch, num_context):
                raise ValueError(
                    f"context_padding_mask must have shape (B, P) = {(batch, num_context)}, "
                    f"got {tuple(context_padding_mask.shape)}"
                )
            action_pad = torch.zeros(batch, length, dtype=torch.bool, device=actions.device)
            key_padding = torch.cat([context_padding_mask, action_pad], dim=1)

        hidden = self.encoder(tokens, src_key_padding_mask=key_padding)
        logits = self.rate_head(self.norm(hidden[:, num_context:])).squeeze(-1)
        return torch.sigmoid(logits)


def refinement_mask(confidence: Tensor, threshold: float = 0.5) -> Tensor:
    """AFM mask m_l = 1{p_l < T} (AsyncVLA Eq. (3)); True marks tokens to regenerate."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    return confidence < threshold


def per_token_error(predicted: Tensor, target: Tensor) -> Tensor:
    """Per-token MSE e_l over the action dimension, (B, L, D) -> (B, L) (Sec. 3.3)."""
    check_actions("predicted", predicted)
    if predicted.shape != target.shape:
        raise ValueError(
            f"target shape {tuple(target.shape)} must equal predicted shape "
            f"{tuple(predicted.shape)}"
        )
    return (predicted - target).pow(2).mean(dim=-1)


def pseudo_labels(
    per_token_error: Tensor,
    *,
    alpha: float = 0.01,
    beta: float = 0.98,
    eps: float = 1e-6,
    valid: Tensor | None = None,
) -> Tensor:
    """Relative confidence targets q = 1 − α − β·(e − min e)/(max e − min e + ε) (Eq. (6)).

    Min and max are taken per chunk (over L), so the most accurate token gets 1 − α and the
    least accurate about 1 − α − β. ``valid`` (B, L) bool optionally excludes padded tokens from
    the min/max; their labels are meaningless and should be masked out of ``rater_loss`` too.
    """
    if per_token_error.dim() != 2:
        raise ValueError(
            f"per_token_error must have shape (B, L), got {tuple(per_token_error.shape)}"
        )
    if alpha < 0.0 or beta <= 0.0 or alpha + beta > 1.0:
        raise ValueError(
            f"need alpha >= 0, beta > 0 and alpha + beta <= 1 so labels lie in [0, 1], "
            f"got alpha={alpha}, beta={beta}"
        )
    if eps <= 0.0:
        raise ValueError(f"eps must be > 0, got {eps}")
    error = per_token_error.detach()
    if valid is None:
        low = error.amin(dim=-1, keepdim=True)
        high = error.amax(dim=-1, keepdim=True)
    else:
        if valid.dtype != torch.bool or valid.shape != error.shape:
            raise ValueError(
                f"valid must be a bool tensor of shape {tuple(error.shape)}, "
                f"got {valid.dtype} {tuple(valid.shape)}"
            )
        low = torch.where(valid, error, torch.inf).amin(dim=-1, keepdim=True)
        high = torch.where(valid, error, -torch.inf).amax(dim=-1, keepdim=True)
        # A chunk with no valid token has no labels to learn; keep its arithmetic finite.
        low = torch.where(valid.any(dim=-1, keepdim=True), low, 0.0)
        high = torch.where(valid.any(dim=-1, keepdim=True), high, 0.0)
        error = torch.where(valid, error, low)
    return 1.0 - alpha - beta * (error - low) / (high - low + eps)


def rater_loss(confidence: Tensor, labels: Tensor, *, valid: Tensor | None = None) -> Tensor:
    """MSE between rater output and pseudo labels, averaged over valid tokens (Sec. 3.3).

    Labels are treated as fixed targets (detached). Returns a zero that still carries a graph if
    no token is valid, so a training step can call backward unconditionally.
    """
    if confidence.shape != labels.shape:
        raise ValueError(
            f"labels shape {tuple(labels.shape)} must equal confidence shape "
            f"{tuple(confidence.shape)}"
        )
    diff = confidence - labels.detach()
    if valid is None:
        return diff.pow(2).mean()
    if valid.dtype != torch.bool or valid.shape != confidence.shape:
        raise ValueError(
            f"valid must be a bool tensor of shape {tuple(confidence.shape)}, "
            f"got {valid.dtype} {tuple(valid.shape)}"
        )
    diff = torch.where(valid, diff, 0.0)
    return diff.pow(2).sum() / valid.sum().clamp(min=1)
