"""The Lua scripts behind RedisTokenPool: each pool operation is one script,
run atomically by Redis in one round trip.

Keys of a pool (all share the hash tag ``{key}``, so they live on one node
of a Redis Cluster):

``holders``
  sorted set: lease token -> when the lease expires (ms, Redis's clock).
``queue``
  list of waiters in arrival order, ``token|lease_ms`` each.
``waiting``
  sorted set: waiter token -> until when the waiter is known alive (ms).
  A waiter's process refreshes it; a waiter that died stops doing so, and
  its queue entry is skipped.
``state``
  hash: ``max`` (the pool's size), ``epoch`` (made when the state is
  created), ``recover_until``, ``fence`` (the last fencing number handed
  out), ``last`` (when the clock was last read, ms), ``load`` and ``next``
  (see below).
``fences``
  hash: lease token -> the fencing number of its grant, for grants to
  waiters (who learn of them later); a direct grant returns it at once.
``grants``
  stream of grants to waiters, ``g`` = ``token|fence|clock at the grant``,
  kept to about the last 1,000.

A slot is granted to a waiter by the script that frees it: the token goes
into ``holders``, and the grant onto the ``grants`` stream, which every
process with waiters reads (XREAD BLOCK), taking the grants of its own
tokens: waiting is notification, not polling. A process that missed a
grant (the stream trimmed past it) learns it at its next heartbeat. Every
key a script touches is one of its KEYS, all under one hash tag: Redis
Cluster and ACL key patterns (``prefix:{key}:*``) see them all.

Fencing numbers grow with every grant of a pool key: a store that remembers
the highest it has seen can refuse a holder whose lease was lost. When the
state is made, the counter starts at the server's clock in ms times 1000,
so the numbers keep growing across a Redis data loss too.

A server that stood still (SIGSTOP, a long fork, a frozen VM) is not a dead
holder. Holders renew every third of a lease, so while any process uses the
pool a script runs at least that often; when a script finds that none ran
for more than half a lease, no lease could be renewed meanwhile, and every
lease and waiter is given that time back (less the third of a lease in
which a renewal was due anyway) before any is expired. (Were all the
processes themselves stalled instead, their leases last that much longer:
never less safe.)

If the state hash is missing while the caller had seen an epoch, Redis lost
its data (a restart without persistence, a flush): the state is made anew
with ``recover_until`` one lease ahead. Until then no new slot is granted,
while holders that are still running re-register their leases when they
renew them (``rejoin``), so the holders of before the loss are never
over-admitted by newcomers.

Most cycles take the fast path: an uncontended acquire is four commands
(TIME, one HMGET of the state, ZADD, one HSET), a release two (ZREM and
HINCRBY). For that the state hash also keeps ``load`` (the leases held,
plus :data:`QUEUED` while anyone may be in line) and ``next`` (no lease or
waiter expires before it); a script that finds the line non-empty, the
clock past ``next``, a pause to catch up on or the pool recovering takes
the slow path, which ends with :func:`sync`-ing both from the keys
themselves. A release does not read the clock: a lease that ran out but
was not reclaimed yet is released as if it had not (no one can have been
admitted in its place: every grant reclaims expired leases first).

Every script takes ARGV[1] = the caller's lease (ms), ARGV[2] = the epoch
it saw last ('' if none), ARGV[3] = its max_size (used when the state must
be made), and returns the epoch as its last value.
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "CANCEL", "HEARTBEAT", "RELEASE", "RESIZE", "STATUS"]


#: Added to the state's ``load`` while anyone may be in line: every
#: acquire and release then takes the slow path. (2**40: far above any
#: ``max_size``, and exact in Lua's numbers with the holders added.)
QUEUED = 2**40

# Every script starts with _HEAD; the fast paths of ACQUIRE and RELEASE
# come before _HELPERS (defining those closures costs ~10 us per call).
_HEAD = (
    """
local H, Q, W, S, F, G = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local lease = tonumber(ARGV[1])
local seen = ARGV[2]
local QUEUED = """
    + str(QUEUED)
    + """
-- No expiry this far ahead (ms): 'next' when nothing can expire.
local NEVER = 1e15
local clock, now

local function tick()
  clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
end

local function num(x)
  -- A number as Redis must store it: all digits (tostring would round).
  return string.format('%.0f', x)
end
"""
)

_HELPERS = """

local function catch_up(last)
  -- Give every lease and waiter back the time no script ran, if longer
  -- than half a lease (see the module's docstring).
  redis.call('HSET', S, 'last', num(now))
  if last == 0 or now - last <= lease / 2 then return end
  -- A renewal was due a third of a lease after the last script at the
  -- latest: the rest of the gap is what the leases lost. (Giving back less
  -- than the whole gap keeps a dead holder's lease from living for ever
  -- while a live process's heartbeats merely run late.)
  local lost = now - last - math.floor(lease / 3)
  local leases = redis.call('ZRANGE', H, 0, -1, 'WITHSCORES')
  for i = 1, #leases, 2 do
    redis.call('ZADD', H, tonumber(leases[i + 1]) + lost, leases[i])
  end
  local waiters = redis.call('ZRANGE', W, 0, -1, 'WITHSCORES')
  for i = 1, #waiters, 2 do
    redis.call('ZADD', W, tonumber(waiters[i + 1]) + lost, waiters[i])
  end
end

local function state()
  -- The slow path's start: the state (made anew if missing), caught up.
  local st = redis.call('HMGET', S, 'max', 'epoch', 'recover_until', 'last')
  if st[2] then
    catch_up(tonumber(st[4] or '0'))
    return tonumber(st[1]), st[2], tonumber(st[3] or '0')
  end
  local max = tonumber(ARGV[3])
  local epoch = clock[1] .. '.' .. clock[2]
  local recover = 0
  if seen ~= '' then
    recover = now + lease
  end
  redis.call('HSET', S, 'max', max, 'epoch', epoch, 'recover_until', num(recover),
    'fence', num(now * 1000), 'last', num(now))
  return max, epoch, recover
end

local function sync()
  -- The slow path's end: 'load' and 'next' counted from the keys.
  local load = redis.call('ZCARD', H)
  if redis.call('LLEN', Q) > 0 then load = load + QUEUED end
  local next = NEVER
  local first_lease = redis.call('ZRANGE', H, 0, 0, 'WITHSCORES')
  local first_waiter = redis.call('ZRANGE', W, 0, 0, 'WITHSCORES')
  for _, first in ipairs({first_lease, first_waiter}) do
    if first[2] and tonumber(first[2]) < next then next = tonumber(first[2]) end
  end
  redis.call('HSET', S, 'load', num(load), 'next', num(next))
end

local function hold(tok, its_lease, lined)
  -- tok holds a slot from now; its fencing number (kept for a waiter's
  -- grant, which its process learns of later).
  local fence = redis.call('HINCRBY', S, 'fence', 1)
  redis.call('ZADD', H, now + its_lease, tok)
  if lined then redis.call('HSET', F, tok, fence) end
  return fence
end

local function let_go(tok)
  redis.call('ZREM', H, tok)
  redis.call('HDEL', F, tok)
end

local function parse(entry)
  -- A queue entry: token|lease_ms.
  local a = string.find(entry, '|', 1, true)
  return string.sub(entry, 1, a - 1), tonumber(string.sub(entry, a + 1))
end

local function last_grant()
  -- The id of the newest entry of the grants stream ('0-0' if none).
  local newest = redis.call('XREVRANGE', G, '+', '-', 'COUNT', 1)
  if newest[1] then return newest[1][1] end
  return '0-0'
end

local function holds(tok)
  -- Whether tok is a lease held right now (its expiry not yet passed).
  local expires = redis.call('ZSCORE', H, tok)
  return expires ~= false and tonumber(expires) > now
end

local function clean()
  for _, tok in ipairs(redis.call('ZRANGEBYSCORE', H, '-inf', now)) do
    let_go(tok)
  end
  redis.call('ZREMRANGEBYSCORE', W, '-inf', now)
  while true do
    local head = redis.call('LINDEX', Q, 0)
    if not head then break end
    local tok = parse(head)
    if redis.call('ZSCORE', W, tok) then break end
    redis.call('LPOP', Q)
  end
end

local function grant_free(max, recover)
  if now < recover then return end
  local n = redis.call('ZCARD', H)
  while n < max do
    local entry = redis.call('LPOP', Q)
    if not entry then break end
    local tok, its_lease = parse(entry)
    if redis.call('ZREM', W, tok) == 1 then
      local fence = hold(tok, its_lease, true)
      local grant = tok .. '|' .. num(fence) .. '|' .. num(now)
      redis.call('XADD', G, 'MAXLEN', '~', 1000, '*', 'g', grant)
      n = n + 1
    end
  end
end
"""

_PRELUDE = _HEAD + _HELPERS

#: ARGV[4] token, ARGV[5] '1' to wait in line ('' = do not wait).
#: Returns {1 granted | 0 queued | -1 full, fence (0 if not granted),
#: the server's clock (ms), the newest grant's id (after which to read
#: grants), epoch}, or on the fast path {1, fence, epoch}. A waiter's
#: grant comes later on the grants stream.
ACQUIRE = (
    _HEAD
    + """
local tok, queue_up = ARGV[4], ARGV[5]
tick()
local st = redis.call('HMGET', S, 'max', 'epoch', 'recover_until', 'last', 'fence', 'load', 'next')
if st[2] and st[6] and st[7] and now >= tonumber(st[3]) and now < tonumber(st[7])
    and now - tonumber(st[4]) <= lease / 2 then
  -- The fast path: nobody in line, nothing expired, nothing to catch up.
  local load = tonumber(st[6])
  if load < tonumber(st[1]) and load < QUEUED then
    local expires = now + lease
    local fence = tonumber(st[5]) + 1
    redis.call('ZADD', H, expires, tok)
    redis.call('HSET', S, 'fence', num(fence), 'last', num(now), 'load', num(load + 1),
      'next', num(math.min(tonumber(st[7]), expires)))
    return {1, fence, st[2]}
  end
end
"""
    + _HELPERS
    + """
local max, epoch, recover = state()
clean()
grant_free(max, recover)
local result
if now >= recover and redis.call('LLEN', Q) == 0 and redis.call('ZCARD', H) < max then
  result = {1, hold(tok, lease, false), now, '', epoch}
elseif queue_up ~= '' then
  local since = last_grant()
  redis.call('RPUSH', Q, tok .. '|' .. lease)
  redis.call('ZADD', W, now + lease, tok)
  result = {0, 0, now, since, epoch}
else
  result = {-1, 0, now, '', epoch}
end
sync()
return result
"""
)

#: ARGV[4] token, ARGV[5] '1' if it was granted to a waiter (it has a
#: ``fences`` entry). Returns {1 released | -1 not held (reclaimed, foreign,
#: twice), epoch}.
RELEASE = (
    _HEAD
    + """
local tok = ARGV[4]
if redis.call('ZREM', H, tok) == 0 then
  return {-1, seen}
end
if ARGV[5] ~= '' then redis.call('HDEL', F, tok) end
if redis.call('HINCRBY', S, 'load', -1) < QUEUED then
  return {1, seen}  -- the fast path: nobody in line to hand the slot to
end
"""
    + _HELPERS
    + """
tick()
local max, epoch, recover = state()
clean()
grant_free(max, recover)
sync()
return {1, epoch}
"""
)

#: ARGV[4] token, ARGV[5] its queue entry. A waiter gives up its place.
#: Returns {1 if it had been granted the slot meanwhile else 0, its fence
#: and the ms left of its lease (0, 0 if not granted), epoch}.
CANCEL = (
    _PRELUDE
    + """
tick()
local max, epoch, recover = state()
local tok = ARGV[4]
redis.call('LREM', Q, 1, ARGV[5])
redis.call('ZREM', W, tok)
local result = {0, 0, 0, epoch}
if holds(tok) then
  local left = tonumber(redis.call('ZSCORE', H, tok)) - now
  result = {1, tonumber(redis.call('HGET', F, tok) or '0'), left, epoch}
end
sync()
return result
"""
)

#: ARGV[4] = n, then n pairs (held token, epoch it was granted in), then
#: the queue entries of this process's waiters. Renews the leases and the
#: waiters' liveness. A held token granted in an earlier state (Redis lost
#: its data since) rejoins while there is room; a waiter Redis lost gets
#: back in line; a waiter already granted (its grant missed) is reported.
#: Returns {lost tokens, grants of waiters as on the stream, epoch}.
HEARTBEAT = (
    _PRELUDE
    + """
tick()
local max, epoch, recover = state()
clean()
local held = tonumber(ARGV[4])
local lost = {}
local n = redis.call('ZCARD', H)
for i = 5, 3 + 2 * held, 2 do
  local tok, granted_in = ARGV[i], ARGV[i + 1]
  if redis.call('ZSCORE', H, tok) then
    redis.call('ZADD', H, now + lease, tok)
  elseif granted_in ~= epoch and n < max then
    redis.call('ZADD', H, now + lease, tok)
    n = n + 1
  else
    table.insert(lost, tok)
  end
end
local granted = {}
for i = 5 + 2 * held, #ARGV do
  local entry = ARGV[i]
  local tok = parse(entry)
  local expires = redis.call('ZSCORE', H, tok)
  if redis.call('ZSCORE', W, tok) then
    redis.call('ZADD', W, now + lease, tok)
  elseif expires then
    -- Granted, and the grant not taken yet: it runs since at least
    -- (expiry - its lease); say so in the stream's terms.
    local fence = redis.call('HGET', F, tok) or '0'
    table.insert(granted, tok .. '|' .. fence .. '|' .. num(tonumber(expires) - lease))
  else
    redis.call('RPUSH', Q, entry)
    redis.call('ZADD', W, now + lease, tok)
  end
end
grant_free(max, recover)
sync()
return {lost, granted, epoch}
"""
)

#: ARGV[4] the new max_size. Returns {epoch}.
RESIZE = (
    _PRELUDE
    + """
tick()
local _, epoch, recover = state()
local max = tonumber(ARGV[4])
redis.call('HSET', S, 'max', max)
clean()
grant_free(max, recover)
sync()
return {epoch}
"""
)

#: Returns {slots held, waiters alive, max, 1 if recovering else 0, epoch}.
STATUS = (
    _PRELUDE
    + """
tick()
local max, epoch, recover = state()
clean()
grant_free(max, recover)
sync()
local recovering = 0
if now < recover then recovering = 1 end
return {redis.call('ZCARD', H), redis.call('ZCARD', W), max, recovering, epoch}
"""
)
