// Lua scripts of the Redis backplane. Each runs atomically in Redis, which is what keeps the
// ordering promises: a message's stream entry and its PUBLISH happen as one step (so every
// instance receives messages in stream-id order), and a presence change is published with the
// list it produced (so no instance sees an older list after a newer one).

/**
 * Appends a message to the room's stream (trimmed to about ARGV[1] entries) and publishes it.
 * KEYS: stream, channel. ARGV: max length, base64 ChatMessage (without id). Returns the id.
 */
export const POST = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'm', ARGV[2])
redis.call('PUBLISH', KEYS[2], 'm' .. id .. '|' .. ARGV[2])
return id
`;

/**
 * Claims a name, or resumes it with its token, creating the room if there is room for it.
 * KEYS: rooms zset (name -> creation ms), name key, members zset, new token key, resume token key.
 * ARGV: room, display name, new token, resume token, grace ms, now ms, max rooms, max members, folded name.
 * Returns {"joined"|"resumed", token, name} or {"taken", name} or {"rooms"} or {"full"}.
 */
export const JOIN = `
local room, name, token, resume = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local grace, now = tonumber(ARGV[5]), tonumber(ARGV[6])
local function extend(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
if not redis.call('ZSCORE', KEYS[1], room) then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[7]) then return {'rooms'} end
  redis.call('ZADD', KEYS[1], now, room)
end
local held = redis.call('GET', KEYS[2])
if held then
  local sep = string.find(held, '|', 1, true)
  local heldToken, heldName = string.sub(held, 1, sep - 1), string.sub(held, sep + 1)
  if resume ~= '' and heldToken == resume then
    extend(KEYS[2], grace)
    extend(KEYS[5], grace)
    redis.call('ZADD', KEYS[3], 'GT', now + grace, ARGV[9])
    return {'resumed', heldToken, heldName}
  end
  return {'taken', heldName}
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[8]) then return {'full'} end
redis.call('SET', KEYS[2], token .. '|' .. name, 'PX', grace)
redis.call('SET', KEYS[4], room .. '|' .. name, 'PX', grace)
redis.call('ZADD', KEYS[3], now + grace, ARGV[9])
extend(KEYS[3], grace)
return {'joined', token, name}
`;

/**
 * Updates a set of names with expiry scores (presence or typing) and returns, and optionally
 * publishes, the names in it as kind .. JSON array. Entries are "<instance>|<name>", so one name
 * held by two instances counts once, and a crashed instance's entries expire by their score.
 * KEYS: zset, channel. ARGV: kind ("p"|"t"), op ("add"|"rem"|"none"), entry, expiry ms, now ms,
 * key ttl ms, publish ("1"|"0").
 */
export const NAMES = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[5])
if ARGV[2] == 'add' then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
elseif ARGV[2] == 'rem' then
  redis.call('ZREM', KEYS[1], ARGV[3])
end
local names, seen = {}, {}
for _, entry in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local name = string.sub(entry, (string.find(entry, '|', 1, true) or 0) + 1)
  if not seen[name] then
    seen[name] = true
    names[#names + 1] = name
  end
end
local payload = ARGV[1] .. cjson.encode(names)
if ARGV[7] == '1' then redis.call('PUBLISH', KEYS[2], payload) end
return payload
`;

/**
 * Stores a file and drops the oldest past the cap.
 * KEYS: file hash, file list. ARGV: id, name, type, base64 bytes, ttl ms, max files, file key prefix.
 */
export const ADD_FILE = `
redis.call('HSET', KEYS[1], 'name', ARGV[2], 'type', ARGV[3], 'data', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('LPUSH', KEYS[2], ARGV[1])
local max = tonumber(ARGV[6])
for _, old in ipairs(redis.call('LRANGE', KEYS[2], max, -1)) do redis.call('DEL', ARGV[7] .. old) end
redis.call('LTRIM', KEYS[2], 0, max - 1)
return 1
`;
