/**
 * What the playground knows about judging a generation, apart from the page: which
 * stages a generation can be judged on (a re-render's plan is its source's; a plan-only
 * generation has no images), the buttons people are offered, and the words for scores
 * and feedback. The API checks all of it again; this keeps the page from offering what
 * the API would refuse.
 */

/** The labels offered as buttons, each about the stage it blames. */
export const LABELS = [
  { label: 'text_wrong', stage: 'decode', text: 'Text wrong' },
  { label: 'layout_wrong', stage: 'plan', text: 'Layout wrong' },
  { label: 'bad_hands', stage: 'decode', text: 'Bad hands' },
  { label: 'artifacts', stage: 'decode', text: 'Artifacts' },
];

/** The ratings the thumbs send: the two ends of the API's 1 to 5. */
export const RATINGS = { good: 5, bad: 1 };

const STAGE_NAMES = { plan: 'plan', decode: 'images', both: 'plan and images' };

const SCORE_NAMES = {
  prompt_alignment: ['Prompt alignment', 'The layout has what the prompt names, where it says'],
  text_legibility: ['Text legibility', 'OCR reads the quoted text back from the image'],
  colourfulness: ['Colourfulness', 'How vivid the colours are'],
};

/**
 * What feedback on this generation may be about: `decode` only for a re-render (its plan
 * is its source's), `plan` only for a plan-only generation (no images), else `both`.
 */
export function judgeable(generation) {
  const rerender = Boolean(generation.input.source_generation_id);
  // `input.decode` says so where the API knows plan-only requests; no images says so everywhere.
  const planOnly = generation.input.decode === false || generation.outputs.length === 0;
  const stages = [];
  if (!rerender) stages.push('plan');
  if (!planOnly) stages.push('decode');
  const whole = stages.length === 2 ? 'both' : (stages[0] ?? null);
  return { stages, whole, rerender, planOnly };
}

/** `text_legibility` → ['Text legibility', its explanation]; a score this page does not know, in words. */
export function scoreName(name) {
  const known = SCORE_NAMES[name];
  if (known) return known;
  const words = name.replace(/_/g, ' ');
  return [words[0].toUpperCase() + words.slice(1), `Scored by ${name}`];
}

export function stageName(stage) {
  return STAGE_NAMES[stage] ?? stage;
}

export function percent(score) {
  return `${Math.round(score * 100)}%`;
}

function labelText(label) {
  return LABELS.find((known) => known.label === label)?.text ?? scoreName(label)[0];
}

/** One piece of feedback in a few words: `Rated 5 of 5 · Text wrong · about the images`. */
export function describeFeedback(feedback) {
  const parts = [];
  if (feedback.rating !== undefined) parts.push(`Rated ${feedback.rating} of 5`);
  if (feedback.labels.length > 0) parts.push(feedback.labels.map(labelText).join(', '));
  if (feedback.preferred_output !== undefined) parts.push(`Prefers image ${feedback.preferred_output + 1}`);
  if (feedback.comment !== undefined) parts.push(`“${feedback.comment}”`);
  parts.push(`about the ${stageName(feedback.stage)}`);
  return parts.join(' · ');
}

/** The generation's feedback and what this page sent since, oldest first, each once. */
export function mergeFeedback(stored = [], sent = []) {
  const seen = new Set(stored.map((entry) => entry.id));
  return [...stored, ...sent.filter((entry) => !seen.has(entry.id))].sort((a, b) =>
    a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0,
  );
}

/** What the feedback so far says: the latest rating, every label given, the latest preferred image. */
export function judgement(feedback) {
  let rating = null;
  let preferred = null;
  const labels = new Set();
  for (const entry of feedback) {
    if (entry.rating !== undefined) rating = entry.rating;
    if (entry.preferred_output !== undefined) preferred = entry.preferred_output;
    for (const label of entry.labels) labels.add(label);
  }
  return { rating, preferred, labels };
}
