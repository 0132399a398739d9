// Rate limits shared by several instances: GCRA in one atomic Redis Lua script, on Redis's clock.

package protect

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcraScript runs the GCRA of ratelimit.go atomically. Times are in
// microseconds from Redis's own clock, so instances with skewed clocks
// still share one limit. KEYS[1]: the key; ARGV: interval, burst.
// Returns {allowed, remaining, retry_after_us, reset_us}.
const gcraScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((now - allow_at) / interval), 0, new_tat - now}
`

// RedisLimiter is a [Limiter] whose counts live in Redis, so that every
// instance of a service enforces the same limits.
type RedisLimiter struct {
	client redis.UniversalClient
	prefix string
	script *redis.Script // gcraScript, built (its SHA-1 computed) with the limiter, not when a program that never uses Redis starts
}

// NewRedisLimiter returns a limiter storing its state under keys starting
// with prefix (e.g. "mcpauth:rl:").
func NewRedisLimiter(client redis.UniversalClient, prefix string) *RedisLimiter {
	return &RedisLimiter{client: client, prefix: prefix, script: redis.NewScript(gcraScript)}
}

// Take counts one request under key in Redis.
func (r *RedisLimiter) Take(ctx context.Context, key string, l Limit) (Decision, error) {
	if l.unlimited() {
		return Decision{Allowed: true, Remaining: 1 << 31}, nil
	}
	interval := max(l.interval().Microseconds(), 1)
	res, err := r.script.Run(ctx, r.client, []string{r.prefix + key}, interval, l.Requests).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("protect: redis rate limiter: %w", err)
	}
	if len(res) != 4 {
		return Decision{}, fmt.Errorf("protect: redis rate limiter: unexpected reply of %d values", len(res))
	}
	return Decision{
		Allowed:    res[0] == 1,
		Remaining:  int(res[1]),
		RetryAfter: time.Duration(res[2]) * time.Microsecond,
		Reset:      time.Duration(res[3]) * time.Microsecond,
	}, nil
}
