-- wrk script for bench/capacity.ts: POST /sms with the built-in generator's bodies in rotation.
-- wrk is closed-loop (each connection sends its next request when the previous one is answered),
-- so it measures the app's maximum throughput, not a sustained arrival rate.
local bodies = {
  '{"sms":"Your verification code is 482913"}',
  '{"sms":"Meeting moved to 3pm, room 4.12"}',
  '{"sms":"Your parcel is waiting in locker 17"}',
  '{"sms":"Balance below 5 EUR: top up to keep calling"}',
}
local requests = {}
local next = 0

function init(args)
  for i, body in ipairs(bodies) do
    requests[i] = wrk.format("POST", nil, { ["content-type"] = "application/json" }, body)
  end
end

function request()
  next = next % #requests + 1
  return requests[next]
end
