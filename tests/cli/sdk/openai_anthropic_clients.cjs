// The official `openai` and `@anthropic-ai/sdk` npm clients against a running `vllm-cpp serve`
// (tests/cli/test_serve_e2e.cpp runs it; `make sdk-clients` installs the packages).
// Usage: node openai_anthropic_clients.cjs BASE_URL API_KEY. Exits non-zero on the first failure.
const OpenAI = require('openai');
const Anthropic = require('@anthropic-ai/sdk');

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
}

async function main() {
  const [base, apiKey] = process.argv.slice(2);
  const prompt = 'Tell me a story about Tom.';

  const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey });
  const ask = { model: 'default', input: prompt, max_output_tokens: 8, temperature: 0 };
  const response = await openai.responses.create(ask);
  check(response.object === 'response' && response.output_text.length > 0, 'responses.create output_text');
  let streamed = '';
  const types = [];
  for await (const event of await openai.responses.create({ ...ask, stream: true })) {
    types.push(event.type);
    if (event.type === 'response.output_text.delta') streamed += event.delta;
  }
  check(types[0] === 'response.created' && types[types.length - 1] === 'response.completed', 'event order');
  check(streamed === response.output_text, `streamed text ${JSON.stringify(streamed)}`);
  const stored = await openai.responses.retrieve(response.id);
  check(stored.id === response.id && stored.output_text === response.output_text, 'responses.retrieve');
  const next = await openai.responses.create({
    model: 'default', input: 'And then?', previous_response_id: response.id, max_output_tokens: 4 });
  check(next.usage.input_tokens > response.usage.input_tokens, 'previous_response_id');
  let badStatus = 0;
  try {
    await openai.responses.create({ model: 'default', input: 5 });
  } catch (error) {
    badStatus = error.status;
  }
  check(badStatus === 400, `bad input status ${badStatus}`);

  const anthropic = new Anthropic({ baseURL: base, apiKey });
  const body = { model: 'default', max_tokens: 8, temperature: 0, system: 'Be brief.',
                 messages: [{ role: 'user', content: prompt }] };
  const message = await anthropic.messages.create(body);
  check(message.type === 'message' && message.content[0].type === 'text', 'messages.create');
  let text = '';
  const stream = anthropic.messages.stream(body);
  stream.on('text', (delta) => { text += delta; });
  const final = await stream.finalMessage();
  check(text === message.content[0].text, `streamed message ${JSON.stringify(text)}`);
  check(final.stop_reason === message.stop_reason && final.usage.output_tokens === message.usage.output_tokens,
        'final message');
  const counted = await anthropic.messages.countTokens({ model: 'default', messages: body.messages });
  check(counted.input_tokens > 0, 'countTokens');
  let anthropicError = null;
  try {
    await anthropic.messages.create({ model: 'default', messages: body.messages });  // no max_tokens
  } catch (error) {
    anthropicError = error;
  }
  check(anthropicError && anthropicError.status === 400 && anthropicError.error.error.type === 'invalid_request_error',
        'Anthropic error shape');
  console.log('sdk clients: ok');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
