// The base model's architecture: a small Llama (0.77M parameters) over the byte-level tokenizer's 261 tokens
// (vocabulary padded to 264).
export const BASE_CONFIG = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: 264,
  hidden_size: 128,
  intermediate_size: 352,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 32,
  hidden_act: 'silu',
  max_position_embeddings: 512,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  attention_bias: false,
  mlp_bias: false,
  tie_word_embeddings: true,
  initializer_range: 0.02,
  bos_token_id: 256,
  eos_token_id: 257,
  pad_token_id: 258,
};
