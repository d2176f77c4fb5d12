"""``deltaprop generate MODEL --prompt TEXT --length N --temperature T``: sample text from a character model.

The model is one ``deltaprop train --dataset text`` (or ``--data FILE.txt``)
wrote; its model.json holds the vocabulary. The prompt is read through the
network once, then one character at a time is drawn from
softmax(logits / temperature) and fed back in, the hidden state carried from
step to step. Temperature 0 always takes the most likely character.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from deltaprop.cli.common import CLIError
from deltaprop.cli.modelfile import load_model


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "generate", help="sample text from a character-level model",
        description="Generate text with a character model written by 'deltaprop train --dataset text'.",
    )
    p.add_argument("model", metavar="MODEL", help="model.npz of a character model")
    p.add_argument("--prompt", default="\n", help="text to start from (default: a new line)")
    p.add_argument("--length", type=int, default=300, metavar="N",
                   help="characters to generate (default 300)")
    p.add_argument("--temperature", type=float, default=0.8, metavar="T",
                   help="sampling temperature: lower is safer, higher wilder; 0 is greedy (default 0.8)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(command=run)
    return p


def generate(model, chars: str, prompt: str, length: int, temperature: float,
             rng: np.random.Generator) -> str:
    """``length`` characters following ``prompt``, sampled one by one with the state carried along."""
    from deltaprop.data.sequences import CharVocabulary
    from deltaprop.tensor import no_grad

    vocabulary = CharVocabulary(chars)
    ids = vocabulary.encode(prompt)
    out = []
    with no_grad():
        logits, state = model.forward_with_state(ids[None, :])
        for _ in range(length):
            last = np.asarray(logits.array[0, -1], dtype=np.float64)
            if temperature == 0:
                choice = int(last.argmax())
            else:
                z = last / temperature
                p = np.exp(z - z.max())
                choice = int(rng.choice(len(p), p=p / p.sum()))
            out.append(chars[choice])
            logits, state = model.forward_with_state(np.array([[choice]]), state)
    return "".join(out)


def run(args: argparse.Namespace) -> int:
    if args.length < 0:
        raise CLIError(f"--length must be >= 0, got {args.length}")
    if not (math.isfinite(args.temperature) and args.temperature >= 0):
        raise CLIError(f"--temperature must be a finite number >= 0, got {args.temperature}")
    model, info = load_model(args.model)
    chars = info.extra.get("vocabulary")
    if not isinstance(chars, str) or not chars or not hasattr(model, "forward_with_state"):
        raise CLIError(f"{args.model} is not a character model (its model.json has no vocabulary); train one "
                       "with 'deltaprop train --dataset text' or '--data FILE.txt'")
    if not args.prompt:
        raise CLIError("--prompt must hold at least one character")
    unknown = sorted(set(args.prompt) - set(chars))
    if unknown:
        raise CLIError(f"--prompt uses characters the model never saw: {''.join(unknown)!r}; its vocabulary "
                       f"is {chars!r}")
    rng = np.random.default_rng(args.seed)
    text = generate(model, chars, args.prompt, args.length, args.temperature, rng)
    sys.stdout.write(args.prompt + text + "\n")
    return 0
