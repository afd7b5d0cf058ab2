// Parameter-name patterns (`lota.targets`, `lora.targets`): globs over Hugging Face parameter names where `*`
// matches any run of characters, dots included, and everything else matches itself.
// `*.self_attn.q_proj.weight` matches `model.layers.0.self_attn.q_proj.weight`.

/** The attention and MLP projection weights of Llama-family models: what the reference LoTA code adapts. */
export const DEFAULT_TARGETS = [
  '*.self_attn.q_proj.weight',
  '*.self_attn.k_proj.weight',
  '*.self_attn.v_proj.weight',
  '*.self_attn.o_proj.weight',
  '*.mlp.gate_proj.weight',
  '*.mlp.up_proj.weight',
  '*.mlp.down_proj.weight',
] as const;

/** Characters a target pattern may hold (the CRD enforces the same). */
export const TARGET_PATTERN = '^[A-Za-z0-9_.*-]+$';

export function targetRegExp(pattern: string): RegExp {
  if (!new RegExp(TARGET_PATTERN).test(pattern)) {
    throw new Error(`invalid target pattern ${JSON.stringify(pattern)}: only letters, digits, '_', '.', '-' and '*'`);
  }
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.-]/g, (c) => `\\${c}`))
    .join('.*');
  return new RegExp(`^${body}$`);
}

/** A predicate over parameter names: true when any pattern matches the whole name. */
export function targetMatcher(patterns: readonly string[]): (name: string) => boolean {
  const regexps = patterns.map(targetRegExp);
  return (name) => regexps.some((re) => re.test(name));
}
