// Node client libraries against a running gateway. Usage:
//   GATEWAY_URL=http://127.0.0.1:4000/v1 GATEWAY_KEY=sk-... node check.mjs
// Prints one JSON line per check and exits 1 if any failed.
import OpenAI from "openai";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText } from "ai";

const baseURL = process.env.GATEWAY_URL;
const apiKey = process.env.GATEWAY_KEY;
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const provider = createOpenAI({ baseURL, apiKey });
const ask = "What are budgets?";
let failed = 0;

async function check(name, fn) {
  try {
    const detail = await fn();
    console.log(JSON.stringify({ name, ok: true, detail }));
  } catch (err) {
    failed += 1;
    console.log(JSON.stringify({ name, ok: false, error: String(err && err.stack ? err.stack : err).slice(0, 800) }));
  }
}

function expect(cond, what) {
  if (!cond) throw new Error(`expected ${what}`);
}

for (const model of ["demo", "research"]) {
  await check(`openai chat stream finalChatCompletion ${model}`, async () => {
    const content = `${ask} ${Math.random().toString(36).slice(2, 8)}`;
    const stream = client.chat.completions.stream({
      model,
      messages: [{ role: "user", content }],
      stream_options: { include_usage: true },
    });
    const final = await stream.finalChatCompletion();
    const text = final.choices[0].message.content;
    expect(final.choices[0].message.role === "assistant", "role assistant");
    expect(final.usage && final.usage.total_tokens > 0, "usage");
    expect(text.startsWith("[demo model]"), `a demo answer, got ${text.slice(0, 40)}`);
    return text.slice(0, 60);
  });
  await check(`openai responses stream finalResponse ${model}`, async () => {
    const stream = client.responses.stream({ model, input: `${ask} ${Math.random()}` });
    const final = await stream.finalResponse();
    expect(final.status === "completed", "status completed");
    const message = final.output.find((item) => item.type === "message");
    const text = message.content.map((part) => part.text).join("");
    expect(text.startsWith("[demo model]"), "a demo answer");
    if (model === "research") expect(final.output[0].type === "reasoning", "steps as a reasoning item");
    return text.slice(0, 60);
  });
  await check(`vercel openai.chat generateText+streamText ${model}`, async () => {
    const g = await generateText({ model: provider.chat(model), prompt: `${ask} ${Math.random()}` });
    expect(g.text.startsWith("[demo model]"), `generateText text, got ${g.text.slice(0, 40)}`);
    const s = streamText({ model: provider.chat(model), prompt: `${ask} ${Math.random()}` });
    const text = await s.text;
    expect(text.startsWith("[demo model]"), "streamText text");
    return { text: text.slice(0, 40), reasoning: (await s.reasoningText)?.slice(0, 40) ?? null };
  });
  await check(`vercel openai() responses generateText+streamText ${model}`, async () => {
    const g = await generateText({ model: provider(model), prompt: `${ask} ${Math.random()}` });
    expect(g.text.startsWith("[demo model]"), `generateText text, got ${g.text.slice(0, 40)}`);
    const s = streamText({ model: provider(model), prompt: `${ask} ${Math.random()}` });
    const text = await s.text;
    expect(text.startsWith("[demo model]"), "streamText text");
    const reasoning = (await s.reasoningText) ?? "";
    if (model === "research") expect(reasoning.includes("Calling tool web_search"), "agent steps as reasoning");
    return { text: text.slice(0, 40), reasoning: reasoning.slice(0, 40) };
  });
}

process.exit(failed ? 1 : 0);
