"""The model's parts: what `bilstm_ner.BiLSTMTagger.v1` (architectures.py) puts together.

featurize.py turns Docs into padded id and byte arrays, torch_encoder.py is the
torch BiLSTM that reads them (int8_lstm.py: its int8 copy at inference on a CPU),
torch_converters.py connects it to Thinc, transformer_context.py is the accurate
pipeline's frozen transformer context, and crf.py is the CRF over the BILUO tags
that the component (pipeline.py) trains and decodes with.

Nothing is imported here: each module is imported where it is used.
"""
