// Raw config.json contents of two real shapes the tests reason about (no weights): GPT-2 small and
// TinyLlama 1.1B (untied head), as transformers writes them (only the fields langquant reads).

export const GPT2_SMALL_RAW = {
  model_type: 'gpt2',
  n_embd: 768,
  n_layer: 12,
  n_head: 12,
  n_positions: 1024,
  vocab_size: 50257,
} as const;

export const TINYLLAMA_RAW = {
  model_type: 'llama',
  hidden_size: 2048,
  num_hidden_layers: 22,
  num_attention_heads: 32,
  num_key_value_heads: 4,
  intermediate_size: 5632,
  vocab_size: 32000,
  max_position_embeddings: 2048,
  tie_word_embeddings: false,
} as const;
