/**
 * Lua scripts of the generation store. Each write reads, checks and writes the record
 * and appends its event in one script, so concurrent workers and API requests can
 * never interleave a check with someone else's write.
 *
 * Common ARGV of every script: [1] STATUS_RANK as JSON, [2] now (ISO), [3] now (ms),
 * [4] events kept per stream (approximate), [5] retention in seconds, [6] the key prefix.
 * Records are written with KEEPTTL: retention counts from creation.
 *
 * Each appended event's entry id is also published on the stream's channel (its own
 * name, see RedisKeys.eventsChannel), so API processes following a generation learn of
 * it without a blocking read per watcher. The publish only wakes readers up: they read
 * the stream itself, which stays the record of what happened.
 *
 * The bookkeeping that admission and the reconciler read is kept by the same scripts
 * that move a record, so it can never disagree with the records: a tenant's set of
 * unfinished ids loses an id exactly when its record turns terminal, and the
 * awaiting-enqueue index loses it when it is confirmed queued or ends. Those keys are
 * named from the record's tenant inside the script; the prefix's hash tag puts them in
 * the record's Redis Cluster slot.
 */

const PRELUDE = `
local rank = cjson.decode(ARGV[1])
local now_iso = ARGV[2]
local now_ms = tonumber(ARGV[3])
local max_events = ARGV[4]
local retention = ARGV[5]
local key_prefix = ARGV[6]
local TERMINAL_RANK = 3
-- Top-level fields a patch may never change.
local PROTECTED = { id = true, tenant = true, status = true, created_at = true }
-- Object fields a patch merges into (one level) rather than replaces.
local MERGED = { timings = true, metadata = true }

-- Milliseconds since the epoch of an ISO-8601 UTC timestamp (days-from-civil).
local function iso_to_ms(s)
  local y, mo, d, h, mi, se, frac = string.match(s or '', '^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)%.?(%d*)Z$')
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * ((mo + 9) % 12) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  local ms = 0
  if frac ~= '' then ms = tonumber(string.sub(frac .. '00', 1, 3)) end
  return ((days * 24 + tonumber(h)) * 60 + tonumber(mi)) * 60000 + tonumber(se) * 1000 + ms
end

local function merge(rec, patch)
  for k, v in pairs(patch) do
    if not PROTECTED[k] then
      if v == cjson.null then
        rec[k] = nil
      elseif MERGED[k] and type(v) == 'table' and type(rec[k]) == 'table' then
        for k2, v2 in pairs(v) do
          if v2 == cjson.null then rec[k][k2] = nil else rec[k][k2] = v2 end
        end
      else
        rec[k] = v
      end
    end
  end
end

local function elapsed_since_created(rec)
  local created = iso_to_ms(rec.created_at)
  if not created then return nil end
  return math.max(0, now_ms - created)
end

local function unfinished_key(tenant)
  return key_prefix .. 'tenant:' .. tenant .. ':unfinished'
end

-- Moves rec to status \`to\`, stamping the times the move implies and keeping the
-- tenant's unfinished set and the awaiting-enqueue index in step.
local function move(rec, to)
  local from = rec.status
  rec.status = to
  if type(rec.timings) ~= 'table' then rec.timings = {} end
  if from == 'queued' and rank[to] < TERMINAL_RANK and rec.started_at == nil then
    rec.started_at = now_iso
    if rec.timings.queued_ms == nil then rec.timings.queued_ms = elapsed_since_created(rec) end
  end
  if from == 'queued' then redis.call('ZREM', key_prefix .. 'awaiting-enqueue', rec.id) end
  if rank[to] >= TERMINAL_RANK then
    rec.completed_at = now_iso
    rec.timings.total_ms = elapsed_since_created(rec)
    redis.call('ZREM', unfinished_key(rec.tenant), rec.id)
  end
end

-- Writes the record (keeping its TTL) and appends an event carrying the new state.
local function save_and_emit(rec_key, events_key, event_type, rec)
  local json = cjson.encode(rec)
  redis.call('SET', rec_key, json, 'KEEPTTL')
  local entry = redis.call('XADD', events_key, 'MAXLEN', '~', max_events, '*', 'type', event_type, 'data', json)
  redis.call('PUBLISH', events_key, entry)
  local pttl = redis.call('PTTL', rec_key)
  if pttl > 0 then redis.call('PEXPIRE', events_key, pttl) end
  return json
end
`;

/**
 * KEYS: record, events, tenant index, tenant unfinished set, awaiting-enqueue index.
 * ARGV[7] record JSON, [8] created ms, [9] id, [10] the most unfinished generations the
 * tenant may have (0: no cap). Returns 'created', 'exists', or 'full' when the tenant is
 * at its cap. Admission costs the same whatever the backlog: one ZCARD. Entries older
 * than the retention are dropped first (their records have expired, so they can never
 * end): an id whose record vanished unfinished cannot hold a slot for good.
 */
export const CREATE_SCRIPT = `${PRELUDE}
if redis.call('EXISTS', KEYS[1]) == 1 then return 'exists' end
local cap = tonumber(ARGV[10])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. (now_ms - tonumber(retention) * 1000))
if cap > 0 and redis.call('ZCARD', KEYS[4]) >= cap then return 'full' end
redis.call('SET', KEYS[1], ARGV[7], 'EX', retention)
local entry = redis.call('XADD', KEYS[2], 'MAXLEN', '~', max_events, '*', 'type', 'status', 'data', ARGV[7])
redis.call('PUBLISH', KEYS[2], entry)
redis.call('EXPIRE', KEYS[2], retention)
redis.call('ZADD', KEYS[3], ARGV[8], ARGV[9])
redis.call('EXPIRE', KEYS[3], retention)
redis.call('ZADD', KEYS[4], ARGV[8], ARGV[9])
redis.call('EXPIRE', KEYS[4], retention)
redis.call('ZADD', KEYS[5], ARGV[8], ARGV[9])
return 'created'
`;

/** KEYS: record, events. ARGV[7] target status, [8] patch JSON. Returns the record JSON, or nil when refused. */
export const TRANSITION_SCRIPT = `${PRELUDE}
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local rec = cjson.decode(raw)
local to = ARGV[7]
if rank[to] == nil then return redis.error_reply('ERR unknown status ' .. to) end
if rank[to] <= rank[rec.status] then return false end
merge(rec, cjson.decode(ARGV[8]))
move(rec, to)
return save_and_emit(KEYS[1], KEYS[2], 'status', rec)
`;

/** KEYS: record, events. ARGV[7] patch JSON, [8] event type. Returns the record JSON, or nil when missing or terminal. */
export const UPDATE_SCRIPT = `${PRELUDE}
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local rec = cjson.decode(raw)
if rank[rec.status] >= TERMINAL_RANK then return false end
merge(rec, cjson.decode(ARGV[7]))
return save_and_emit(KEYS[1], KEYS[2], ARGV[8], rec)
`;

/**
 * KEYS: record, events. Queued: canceled at once. Running: cancel_requested is set and
 * the worker finishes the move. Terminal: unchanged. Returns { outcome, record JSON }
 * with outcome 'canceled', 'requested' or 'unchanged', or nil if the record is missing.
 */
export const CANCEL_SCRIPT = `${PRELUDE}
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local rec = cjson.decode(raw)
if rank[rec.status] >= TERMINAL_RANK then return { 'unchanged', raw } end
if rec.status == 'queued' then
  rec.cancel_requested = true
  move(rec, 'canceled')
  return { 'canceled', save_and_emit(KEYS[1], KEYS[2], 'status', rec) }
end
if rec.cancel_requested then return { 'unchanged', raw } end
rec.cancel_requested = true
return { 'requested', save_and_emit(KEYS[1], KEYS[2], 'cancel_requested', rec) }
`;

/**
 * KEYS: tenant index. ARGV: [1] record key prefix, [2] max score ('+inf' or ms),
 * [3] cursor id ('' for none: entries at the max score with id >= it were already
 * returned), [4] limit. Returns a flat list of record JSON and score pairs, at most
 * limit + 1 of them (the extra one says another page exists). Ids whose record has
 * expired are removed from the index as they are met.
 */
export const LIST_SCRIPT = `
local prefix, max_score, cursor_id, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local out, expired, offset, batch = {}, {}, 0, limit + 1
while #out < 2 * (limit + 1) do
  local page = redis.call('ZREVRANGEBYSCORE', KEYS[1], max_score, '-inf', 'WITHSCORES', 'LIMIT', offset, batch)
  if #page == 0 then break end
  for i = 1, #page, 2 do
    local id, score = page[i], page[i + 1]
    local seen = cursor_id ~= '' and tonumber(score) == tonumber(max_score) and id >= cursor_id
    if not seen and #out < 2 * (limit + 1) then
      local rec = redis.call('GET', prefix .. id)
      if rec then
        table.insert(out, rec)
        table.insert(out, score)
      else
        table.insert(expired, id)
      end
    end
  end
  offset = offset + batch
end
if #expired > 0 then redis.call('ZREM', KEYS[1], unpack(expired)) end
return out
`;

/**
 * KEYS: record. Annotates a succeeded record without moving it: ARGV[7] 'quality' sets
 * quality[ARGV[8]] (a stage) to the JSON in ARGV[9]; 'feedback' appends the entry in
 * ARGV[9] unless one with its id is there (replay) or ARGV[10] entries already are.
 * ARGV[11] lists the stages the annotation is about (comma-separated): the record is
 * indexed for each stage's training export, scored by Redis's clock in µs so an export
 * cursor only ever moves forward; '1' in ARGV[12] also indexes it among the rated
 * renders of its plan. No event is appended: the generation's event stream ended with
 * its terminal event. Returns { outcome, record JSON } with outcome 'ok', 'exists',
 * 'full' or 'not_succeeded', or nil when the record is missing.
 */
export const ANNOTATE_SCRIPT = `${PRELUDE}
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local rec = cjson.decode(raw)
if rec.status ~= 'succeeded' then return { 'not_succeeded', raw } end
local payload = cjson.decode(ARGV[9])
if ARGV[7] == 'quality' then
  if type(rec.quality) ~= 'table' then rec.quality = {} end
  rec.quality[ARGV[8]] = payload
else
  if type(rec.feedback) ~= 'table' then rec.feedback = {} end
  for _, entry in ipairs(rec.feedback) do
    if entry.id == payload.id then return { 'exists', raw } end
  end
  if #rec.feedback >= tonumber(ARGV[10]) then return { 'full', raw } end
  table.insert(rec.feedback, payload)
end
local json = cjson.encode(rec)
redis.call('SET', KEYS[1], json, 'KEEPTTL')
local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])
for stage in string.gmatch(ARGV[11], '[^,]+') do
  local index = key_prefix .. 'tenant:' .. rec.tenant .. ':annotated:' .. stage
  redis.call('ZADD', index, now_us, rec.id)
  redis.call('EXPIRE', index, retention)
end
if ARGV[12] == '1' then
  local plan_id = rec.id
  if type(rec.input) == 'table' and type(rec.input.source_generation_id) == 'string' then
    plan_id = rec.input.source_generation_id
  end
  local rated = key_prefix .. 'plan:' .. plan_id .. ':rated'
  redis.call('ZADD', rated, now_us, rec.id)
  redis.call('EXPIRE', rated, retention)
end
return { 'ok', json }
`;

/**
 * KEYS: a training index. ARGV: [1] record key prefix, [2] min score (µs), [3] cursor id
 * ('' for none: entries at the min score with a smaller id were already passed), [4]
 * limit. Returns a flat list of record JSON and score pairs, oldest annotation first, at
 * most `limit` of them. The entry at the cursor itself is returned again: the caller
 * knows how many of its rows it already gave. Ids whose record expired are removed.
 */
export const TRAINING_PAGE_SCRIPT = `
local prefix, min_score, cursor_id, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local out, expired, offset, batch = {}, {}, 0, limit
while #out < 2 * limit do
  local page = redis.call('ZRANGEBYSCORE', KEYS[1], min_score, '+inf', 'WITHSCORES', 'LIMIT', offset, batch)
  if #page == 0 then break end
  for i = 1, #page, 2 do
    local id, score = page[i], page[i + 1]
    local passed = cursor_id ~= '' and tonumber(score) == tonumber(min_score) and id < cursor_id
    if not passed and #out < 2 * limit then
      local rec = redis.call('GET', prefix .. id)
      if rec then
        table.insert(out, rec)
        table.insert(out, score)
      else
        table.insert(expired, id)
      end
    end
  end
  offset = offset + batch
end
if #expired > 0 then redis.call('ZREM', KEYS[1], unpack(expired)) end
return out
`;
