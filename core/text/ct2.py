"""CTranslate2 as a fast-path engine: `converted` turns a loaded transformers model into a
CTranslate2 model folder (offline, once per model, under the home folder) and `CT2Model`
generates with it through transformers' `generate(...)` keywords, so core.text.generate
streams, stops and shows the token view exactly as with a torch model.

CTranslate2 streams each chosen token (`Generator.generate_tokens`) with its log-probability
only: no top-k alternatives. The token view's probabilities and top-5 therefore come from one
forward pass of the loaded fp32 model over prompt + reply (`LazyLogits`), run when the token
view is first read, after the reply's timing has ended.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import torch

_convert_lock = threading.Lock()


def converted(lm, root: Path) -> Path:
    """`lm`'s CTranslate2 folder (fp32 weights: each compute type quantizes at load),
    converted once from the model's own folder, or from a copy saved for a hub model."""
    import ctranslate2
    from ctranslate2.converters import TransformersConverter

    from core.text import fastpath

    out = root / "ct2" / f"{fastpath.model_key(lm)}-{ctranslate2.__version__}"
    with _convert_lock:
        if (out / "model.bin").exists():
            return out
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(lm.name)
            if not (source.is_dir() and any(source.glob("*.safetensors"))):
                source = Path(tmp) / "hf"
                lm.model.save_pretrained(source)
                lm.tokenizer.save_pretrained(source)
            partial = Path(tmp) / "ct2"
            TransformersConverter(str(source)).convert(str(partial), quantization="float32")
            _fill_special_tokens(partial / "config.json", lm.tokenizer)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(partial, out)
    return out


def _fill_special_tokens(config: Path, tokenizer) -> None:
    """CTranslate2 refuses a model whose bos/eos/unk token is null (a tokenizer without
    one, like the small GPT-2s trained here): the end-of-text token stands in."""
    values = json.loads(config.read_text())
    fallback = tokenizer.eos_token or tokenizer.convert_ids_to_tokens(0)
    for key in ("bos_token", "eos_token", "unk_token"):
        if key in values and values[key] is None:
            values[key] = fallback
    config.write_text(json.dumps(values, indent=2))


class LazyLogits:
    """generate()'s per-step logits for the reply, computed on first read by the fp32 scorer:
    step k is the scorer's logits for the token after prompt + k generated tokens."""

    def __init__(self, scorer, sequence: list[int], prompt_len: int) -> None:
        self.scorer, self.sequence, self.prompt_len = scorer, sequence, prompt_len
        self._steps: list[torch.Tensor] | None = None

    def _all(self) -> list[torch.Tensor]:
        if self._steps is None:
            with torch.inference_mode():
                logits = self.scorer(torch.tensor([self.sequence])).logits[0]
            start = self.prompt_len - 1
            self._steps = [logits[i : i + 1] for i in range(start, len(self.sequence) - 1)]
        return self._steps

    def __len__(self) -> int:
        return len(self.sequence) - self.prompt_len

    def __getitem__(self, index):
        return self._all()[index]

    def __iter__(self):
        return iter(self._all())


class CT2Model:
    """A CTranslate2 generator of `lm`'s model in `compute_type` on `threads` CPU threads,
    called like transformers' generate."""

    def __init__(self, lm, folder: Path, compute_type: str, threads: int) -> None:
        import ctranslate2

        def load():
            before = torch.get_num_threads()  # loading sets this thread's count to `threads`
            try:
                return ctranslate2.Generator(
                    str(folder), device="cpu", compute_type=compute_type, intra_threads=threads
                )
            finally:
                torch.set_num_threads(before)

        self._load = load
        self.generator, self._sampled, self._spare = self._load(), False, None
        self._loader = ThreadPoolExecutor(max_workers=1)
        self.lm, self.scorer = lm, lm.model
        self.config, self.dtype = lm.model.config, torch.float32

    def _tokens(self, ids: list[int]) -> list[str]:
        return self.lm.tokenizer.convert_ids_to_tokens(ids)

    def perplexity(self, ids: list[int]) -> float:
        """exp(mean next-token loss) of `ids` under this engine."""
        result = self.generator.score_batch([self._tokens(ids)])[0]
        return math.exp(-sum(result.log_probs) / max(len(result.log_probs), 1))

    def generate(self, input_ids, *, max_new_tokens=20, streamer=None, **kw):
        """transformers' generate for one prompt: the same keywords the app passes (sampling,
        repetition penalty, stopping criteria, stop strings, a streamer)."""
        import ctranslate2

        prompt = input_ids[0].tolist()
        sampling = bool(kw.get("do_sample"))
        options = {"min_length": kw["min_new_tokens"]} if kw.get("min_new_tokens") else {}
        if sampling:
            self._fresh_generator()
            ctranslate2.set_random_seed(int(torch.randint(0, 2**31 - 1, (1,))))
            options |= dict(
                sampling_topk=kw.get("top_k") or 0,
                sampling_topp=kw.get("top_p") or 1.0,
                sampling_temperature=kw.get("temperature") or 1.0,
            )
        eos = self.lm.tokenizer.eos_token_id
        if eos is not None:
            options["end_token"] = [eos]
        if streamer is not None:
            streamer.put(input_ids[0].cpu())
        room = self.lm.context - len(prompt)  # the scorer attends to `context` positions
        new = self._run(prompt, max(1, min(max_new_tokens, room)), kw, options, streamer)
        if streamer is not None:
            streamer.end()
        sequences = torch.tensor([prompt + new])
        if not kw.get("return_dict_in_generate"):
            return sequences
        logits = LazyLogits(self.scorer, prompt + new, len(prompt))
        return SimpleNamespace(sequences=sequences, logits=logits)

    def _fresh_generator(self) -> None:
        """A generator whose threads have not sampled yet. CTranslate2 seeds each worker
        thread's random generator once, at its first sample (with the seed set then), so a
        seed reproduces a reply only on fresh threads: after each sampled reply a spare
        generator loads in the background for the next one."""
        if self._sampled:
            self.generator = self._spare.result() if self._spare else self._load()
        self._sampled = True
        self._spare = self._loader.submit(self._load)

    def _run(self, prompt: list[int], max_new: int, kw: dict, options: dict, streamer) -> list[int]:
        """The new token ids, stopping at EOS, max_new, a stop string or a stopping criterion."""
        criteria = kw.get("stopping_criteria") or []
        stops = [s for s in kw.get("stop_strings") or [] if s]
        tok, new = self.lm.tokenizer, []
        steps = self.generator.generate_tokens(
            self._tokens(prompt),
            max_length=max_new,
            repetition_penalty=kw.get("repetition_penalty") or 1.0,
            **options,
        )
        for step in steps:
            new.append(step.token_id)
            if streamer is not None:
                streamer.put(torch.tensor([step.token_id]))
            if step.token_id == tok.eos_token_id or len(new) >= max_new:
                break
            ids = torch.tensor([prompt + new])
            if any(bool(c(ids, None).all()) for c in criteria):
                break
            if stops and any(s in tok.decode((prompt + new)[-16:]) for s in stops):
                break
        steps.close()
        return new
