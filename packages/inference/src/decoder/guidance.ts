/**
 * Classifier-free guidance. The unconditional branch drops both the prior tokens and
 * the glyphs, so guidance pushes towards the planned layout and the quoted text.
 */

/**
 * Scales 0 and 1 mean "no guidance": 1 gives exactly the conditional velocity, and 0
 * is the conventional way to switch guidance off. Either way only the conditional
 * branch is run, halving the denoiser's work.
 */
export function guidanceEnabled(scale: number): boolean {
  return scale !== 0 && scale !== 1;
}

/** v = v_u + g * (v_c - v_u). */
export function applyGuidance(
  conditional: Float32Array,
  unconditional: Float32Array,
  scale: number,
): Float32Array {
  if (conditional.length !== unconditional.length) throw new RangeError('guidance branches differ in length');
  const out = new Float32Array(conditional.length);
  for (let i = 0; i < out.length; i += 1) {
    const u = unconditional[i] as number;
    out[i] = u + scale * ((conditional[i] as number) - u);
  }
  return out;
}
