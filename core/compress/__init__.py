"""Compress a model and measure it beside the original on this machine.

    measure   the Variant result type, the Machine it was measured on, side-by-side timing,
              the verdict in words (labels such as "slower on this hardware")
    cnn       CNN methods: ONNX Runtime fp32, static int8 (QDQ U8S8 per channel), structured
              channel pruning + fine-tune, unstructured magnitude pruning, distillation, fp16
    tool      a Request -> the job (every method, the original measured in the same loop) ->
              a Comparison -> run_record (linked to the source run) and the variants' files
    charts    quality against latency, size as the marker, the best trade-off marked

Streamlit-free; torch and onnxruntime load only with `cnn` and `tool`.
"""
