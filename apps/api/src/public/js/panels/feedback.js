/**
 * Feedback on the generation on show, once it has succeeded: thumbs up or down, what is
 * wrong with it, which image is best, a comment; each click is one
 * `POST /v1/generations/{id}/feedback` under its own Idempotency-Key. Below, what has
 * been given and the evaluator's scores per stage. Scores are written seconds after
 * success and are not on the event stream, so the panel reads the generation again a
 * few times, further apart each time, until they are there or a minute has passed.
 */
import { el, showError } from '../dom.js';
import {
  describeFeedback,
  judgeable,
  judgement,
  LABELS,
  mergeFeedback,
  percent,
  RATINGS,
  scoreName,
} from '../quality.js';

/** Waits between reads of the generation while its scores are missing: about a minute in all. */
const SCORE_POLL_DELAYS_MS = [1000, 2000, 4000, 8000, 15_000, 15_000, 15_000];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Live regions announce every change: text that stays the same is not written again. */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** @param {HTMLElement} root @param {import('../main.js').Context} ctx */
export function mount(root, ctx) {
  const part = (role) => root.querySelector(`[data-role="${role}"]`);
  const ratingButtons = [...root.querySelectorAll('[data-rating]')];
  const labelGroup = part('labels');
  const preferGroup = part('prefer');
  const preferButtons = part('prefer-buttons');
  const comment = root.querySelector('form.comment');
  const commentBox = comment.elements.namedItem('comment');
  const commentButton = comment.querySelector('button[type="submit"]');
  const error = part('error');
  const sentLine = part('sent');

  const labelButtons = LABELS.map(({ label, stage, text }) =>
    el('button', { type: 'button', 'data-label': label, 'data-stage': stage, 'aria-pressed': 'false' }, text),
  );
  labelGroup.replaceChildren(...labelButtons);

  /**
   * The generation on show and what this page did about it. Each generation gets its own
   * state, so an answer arriving after another one was opened lands nowhere.
   */
  let shown = null;
  let sending = false;

  function setPressed(button, pressed) {
    button.setAttribute('aria-pressed', String(pressed));
    // Feedback cannot be taken back: what was given stays chosen (focusable, but sends nothing
    // again) until another rating or image is chosen.
    if (pressed) button.setAttribute('aria-disabled', 'true');
    else button.removeAttribute('aria-disabled');
  }

  /** An empty comment is not sent. */
  function updateCommentButton() {
    commentButton.disabled = sending || commentBox.value.trim() === '';
  }

  function renderScores(state) {
    const { quality } = state.generation;
    const { stages } = judgeable(state.generation);
    const groups = stages
      .filter((stage) => quality?.[stage])
      .map((stage) => {
        const rows = Object.entries(quality[stage].scores).flatMap(([name, value]) => {
          const [label, explanation] = scoreName(name);
          return [
            el('dt', { title: explanation }, label),
            el(
              'dd',
              {},
              el('meter', { min: 0, max: 1, value, 'aria-label': label }),
              el('span', { class: 'score-value' }, percent(value)),
            ),
          ];
        });
        return el(
          'div',
          { class: 'score-stage', 'data-stage': stage },
          el('h4', {}, stage === 'plan' ? 'Plan' : 'Images'),
          el('dl', {}, ...rows),
        );
      });
    part('scores').replaceChildren(...groups);
    const missing = stages.some((stage) => !quality?.[stage]);
    const status = part('scores-status');
    status.hidden = !missing;
    if (state.scoring === 'waiting')
      setText(status, 'Scoring… the evaluator scores each stage after success.');
    else if (groups.length === 0) setText(status, 'Not scored yet: open it again later to look again.');
    else setText(status, 'Not every stage is scored yet.');
  }

  function render() {
    const state = shown;
    if (!state) return;
    const { generation } = state;
    root.hidden = generation.status !== 'succeeded';
    if (root.hidden) return;
    const { whole, rerender, planOnly } = judgeable(generation);
    const feedback = mergeFeedback(generation.feedback, state.sent);
    const said = judgement(feedback);

    for (const button of ratingButtons) setPressed(button, RATINGS[button.dataset.rating] === said.rating);
    for (const button of labelButtons) {
      const stage = button.dataset.stage;
      button.hidden = (stage === 'plan' && rerender) || (stage === 'decode' && planOnly);
      setPressed(button, said.labels.has(button.dataset.label));
    }

    const count = planOnly ? 0 : generation.outputs.length;
    preferGroup.hidden = count < 2;
    if (preferButtons.childElementCount !== count) {
      preferButtons.replaceChildren(
        ...generation.outputs.map((_, index) =>
          el(
            'button',
            { type: 'button', 'data-prefer': index, 'aria-pressed': 'false' },
            `Prefer image ${index + 1}`,
          ),
        ),
      );
    }
    for (const button of preferButtons.querySelectorAll('[data-prefer]')) {
      setPressed(button, Number(button.dataset.prefer) === said.preferred);
    }

    for (const button of root.querySelectorAll('button')) button.disabled = sending;
    updateCommentButton();
    root.setAttribute('aria-busy', String(sending));
    const note = rerender
      ? `A re-render: feedback is about its images; the plan is ${generation.input.source_generation_id}'s.`
      : planOnly
        ? 'Plan only: feedback is about the plan.'
        : '';
    setText(part('stage-note'), note);
    part('stage-note').hidden = whole === 'both';

    part('given').replaceChildren(
      ...feedback.map((entry) =>
        el(
          'li',
          { 'data-feedback-id': entry.id },
          el('time', { datetime: entry.created_at }, new Date(entry.created_at).toLocaleTimeString()),
          ' ',
          describeFeedback(entry),
        ),
      ),
    );
    part('given-empty').hidden = feedback.length > 0;
    renderScores(state);
  }

  function scored(generation) {
    return judgeable(generation).stages.every((stage) => generation.quality?.[stage]);
  }

  /** Reads the generation again; its feedback and scores replace what was shown. */
  async function refresh(state) {
    const generation = await ctx.api.get(state.id);
    if (shown !== state) return;
    state.generation = generation;
    render();
  }

  async function watchScores(state) {
    state.scoring = 'waiting';
    for (const delay of SCORE_POLL_DELAYS_MS) {
      if (scored(state.generation)) break;
      await sleep(delay);
      if (shown !== state) return;
      try {
        await refresh(state);
      } catch {
        // A read that failed (a restart, a dropped connection) is tried again at the next step.
      }
    }
    if (shown !== state) return;
    state.scoring = 'done';
    render();
  }

  function show(generation) {
    if (!shown || shown.id !== generation.id) {
      shown = { id: generation.id, generation, sent: [], scoring: 'idle' };
      showError(error, null);
      sentLine.textContent = '';
      commentBox.value = '';
    }
    // Event stream updates carry no feedback or scores: keep those already read.
    const { feedback, quality } = shown.generation;
    shown.generation = {
      ...generation,
      feedback: generation.feedback ?? feedback,
      quality: generation.quality ?? quality,
    };
    // Started before the first render, so that it already says the scores are on their way.
    if (generation.status === 'succeeded' && shown.scoring === 'idle') watchScores(shown);
    render();
  }

  async function send(body) {
    const state = shown;
    if (!state || sending) return false;
    sending = true;
    showError(error, null);
    sentLine.textContent = 'Sending…';
    render();
    try {
      // Ratings and comments are about every stage the generation has; labels and the
      // preferred image say which stage they are about.
      const whole = judgeable(state.generation).whole;
      const { feedback, replayed } = await ctx.api.feedback(state.id, { stage: whole, ...body });
      if (shown !== state) return false;
      state.sent.push(feedback);
      sentLine.textContent = replayed ? 'Already recorded.' : 'Thanks, recorded.';
      refresh(state).catch(() => {}); // what was sent is shown already
      return true;
    } catch (failure) {
      if (shown === state) {
        sentLine.textContent = '';
        showError(error, failure);
      }
      return false;
    } finally {
      sending = false;
      render();
    }
  }

  const chosen = (button) => button.getAttribute('aria-pressed') === 'true';

  for (const button of ratingButtons) {
    button.addEventListener('click', () => {
      if (!chosen(button)) send({ rating: RATINGS[button.dataset.rating] });
    });
  }
  for (const button of labelButtons) {
    button.addEventListener('click', () => {
      // About the stage the label blames (a label for a stage the generation lacks is hidden).
      if (!chosen(button)) send({ stage: button.dataset.stage, labels: [button.dataset.label] });
    });
  }
  preferButtons.addEventListener('click', (event) => {
    const button = event.target.closest('[data-prefer]');
    if (button && !chosen(button)) send({ stage: 'decode', preferred_output: Number(button.dataset.prefer) });
  });
  commentBox.addEventListener('input', updateCommentButton);
  comment.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = commentBox.value.trim();
    if (text && (await send({ comment: text }))) {
      commentBox.value = '';
      render();
    }
  });

  ctx.bus.on('open', show);
  ctx.bus.on('update', show);
}
