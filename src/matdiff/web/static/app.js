// The page of `matdiff serve`: sends the form to the JSON API and shows the answer.
// Everything the server says is put on the page with textContent (never as HTML); math goes
// through KaTeX with throwOnError false when KaTeX is vendored, else it shows as Unicode text.
"use strict";

const $ = (id) => document.getElementById(id);

const form = {
  expression: $("expression"), where: $("where"), wrt: $("wrt"), order: $("order"),
  vjp: $("vjp"), cotangent: $("cotangent"), claim: $("claim"), submit: $("derive"),
};

async function postJSON(path, payload, signal) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(payload),
    signal,
  });
  let body;
  try {
    body = await response.json();
  } catch (_) {
    body = { error: `the server answered ${response.status} ${response.statusText}` };
  }
  if (!response.ok) {
    throw new Error(body && typeof body.error === "string" ? body.error : `error ${response.status}`);
  }
  return body;
}

function renderMath(element, latex, fallback) {
  element.textContent = "";
  if (window.katex && latex) {
    window.katex.render(latex, element, { displayMode: true, throwOnError: false, trust: false });
    element.classList.remove("plain");
  } else {
    element.textContent = fallback || latex || "";
    element.classList.add("plain");
  }
}

function show(element, visible) {
  element.hidden = !visible;
}

// ---- declarations -> the "with respect to" choice ------------------------------------------

let variablesRequest = null;
let variablesTimer = null;

async function updateVariables() {
  if (variablesRequest) variablesRequest.abort();
  variablesRequest = new AbortController();
  const status = $("where-status");
  try {
    const answer = await postJSON("/api/variables", { where: form.where.value }, variablesRequest.signal);
    const previous = form.wrt.value;
    const names = Object.keys(answer.variables);
    form.wrt.textContent = "";
    for (const name of names) {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = `${name}  (${answer.variables[name].shape_text})`;
      form.wrt.append(option);
    }
    const wanted = form.wrt.dataset.wanted;
    if (wanted && names.includes(wanted)) form.wrt.value = wanted;
    else if (names.includes(previous)) form.wrt.value = previous;
    delete form.wrt.dataset.wanted;
    show($("claim-field"), Boolean(answer.features && answer.features.verify));
    status.textContent = names.length ? "" : "Declare the variables, e.g. W: m×q, X: q×n";
    status.classList.remove("bad");
  } catch (error) {
    if (error.name === "AbortError") return;
    form.wrt.textContent = "";
    status.textContent = error.message;
    status.classList.add("bad");
  }
}

function variablesSoon() {
  clearTimeout(variablesTimer);
  variablesTimer = setTimeout(updateVariables, 200);
}

// ---- text limits: the server refuses a field over its limit (data-limit); the page says so, never cuts ---

function tooLong() {
  for (const input of [form.expression, form.where, form.claim]) {
    const limit = Number(input.dataset.limit);
    if (limit && input.value.length > limit && !input.closest("[hidden]")) {
      return `${input.dataset.name} is ${input.value.length} characters long; at most ${limit} are accepted. ` +
        "Nothing was cut: shorten it to differentiate.";
    }
  }
  return "";
}

function checkLengths() {
  const message = tooLong();
  $("length-status").textContent = message;
  form.submit.disabled = Boolean(message);
  return !message;
}

// ---- the answer --------------------------------------------------------------------------------

function showForm(prefix, section) {
  const part = $(prefix);
  if (!section) {
    show(part, false);
    return;
  }
  show(part, true);
  const error = $(`${prefix}-error`);
  if (section.error) {
    $(`${prefix}-math`).textContent = "";
    $(`${prefix}-text`).textContent = "";
    if (error) error.textContent = section.error;
    else $(`${prefix}-note`).textContent = section.error;
    return;
  }
  if (error) error.textContent = "";
  renderMath($(`${prefix}-math`), section.latex, section.unicode);
  $(`${prefix}-text`).textContent = section.text;
  const note = $(`${prefix}-note`);
  if (note) note.textContent = section.note || "";
}

function showSteps(steps) {
  const container = $("steps-list");
  container.textContent = "";
  if (!steps) {
    show($("steps"), false);
    return;
  }
  show($("steps"), true);
  if (!Array.isArray(steps)) {
    $("steps-count").textContent = "";
    const note = document.createElement("p");
    note.className = "note preformatted";
    note.textContent = steps.error || "no steps";
    container.append(note);
    return;
  }
  $("steps-count").textContent = `(${steps.length}: how the derivative comes about)`;
  let list = null;
  let section = null;
  for (const step of steps) {
    if (list === null || step.section !== section) {  // a heading and a numbered list per section
      section = step.section;
      if (section) {
        const heading = document.createElement("h4");
        heading.textContent = section;
        container.append(heading);
      }
      list = document.createElement("ol");
      container.append(list);
    }
    const item = document.createElement("li");
    if (step.title) {
      const title = document.createElement("div");
      title.className = "step-title";
      title.textContent = step.title;
      item.append(title);
    }
    const math = document.createElement("div");
    math.className = "math";
    if (step.latex) renderMath(math, step.latex, step.text);
    else math.textContent = step.text;
    item.append(math);
    if (step.note) {
      const note = document.createElement("div");
      note.className = "note";
      note.textContent = step.note;
      item.append(note);
    }
    list.append(item);
  }
}

let codeSources = {};

function selectBackend(backend) {
  for (const tab of document.querySelectorAll(".tab")) {
    const selected = tab.dataset.backend === backend;
    tab.classList.toggle("selected", selected);
    tab.setAttribute("aria-selected", String(selected));
  }
  const source = codeSources[backend];
  const text = $("code-text");
  text.textContent = typeof source === "string" ? source : (source && source.error) || "";
  text.dataset.backend = backend;
  $("copy-status").textContent = "";
}

function showCode(code) {
  if (!code) {
    show($("code"), false);
    return;
  }
  show($("code"), true);
  codeSources = code.error ? { numpy: code, jax: code, torch: code } : code;
  selectBackend($("code-text").dataset.backend || "numpy");
}

async function copyCode() {
  const text = $("code-text").textContent;
  const status = $("copy-status");
  try {
    await navigator.clipboard.writeText(text);
    status.textContent = "Copied";
  } catch (_) {
    const range = document.createRange();
    range.selectNodeContents($("code-text"));
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    status.textContent = document.execCommand("copy") ? "Copied" : "Selected: press Ctrl-C";
  }
}

function showCheck(check) {
  if (!check) {
    show($("check"), false);
    return;
  }
  show($("check"), true);
  const verdict = $("check-verdict");
  const body = $("check-rows").tBodies[0];
  body.textContent = "";
  verdict.className = "";
  if (check.error) {
    verdict.textContent = check.error;
    verdict.className = "note";
    $("check-note").textContent = "";
    return;
  }
  verdict.textContent = check.ok ? "✓ agrees with the numbers" : "✗ does not agree with the numbers";
  verdict.className = check.ok ? "good" : "bad";
  for (const row of check.rows || []) {
    const tr = document.createElement("tr");
    const cells = [row.wrt, row.method,
      typeof row.error === "number" ? row.error.toExponential(1) : String(row.error),
      typeof row.tolerance === "number" ? row.tolerance.toExponential(0) : String(row.tolerance),
      row.ok ? "ok" : "FAILED"];
    for (const value of cells) {
      const td = document.createElement("td");
      td.textContent = value;
      tr.append(td);
    }
    tr.className = row.ok ? "good" : "bad";
    body.append(tr);
  }
  $("check-note").textContent = check.note || "";
}

function showVerdict(verdict) {
  const list = $("verdict-diagnosis");
  list.textContent = "";
  if (!verdict) {
    show($("verdict"), false);
    return;
  }
  show($("verdict"), true);
  const line = $("verdict-line");
  if (verdict.error) {
    line.textContent = verdict.error;
    line.className = "bad preformatted";
    return;
  }
  line.textContent = `${verdict.correct ? "✓" : "✗"} ${verdict.verdict}`;
  line.className = verdict.correct ? "good" : "bad";
  for (const finding of verdict.diagnosis || []) {
    const item = document.createElement("li");
    const kind = document.createElement("strong");
    kind.textContent = `${finding.kind}: `;
    item.append(kind, document.createTextNode(finding.explanation));
    list.append(item);
  }
}

const KIND_TITLES = {
  gradient: "Gradient", jacobian: "Jacobian", vec: "Derivative (vec form)", derivative: "Derivative",
  hessian: "Hessian",
};

function showAnswer(answer) {
  const d = answer.derivative;
  const by = [...new Set(answer.wrt)].join(", ");  // a Hessian is by x, x: say x once
  $("result-title").textContent = d.cotangent
    ? `Backprop rule of ${answer.expression} by ${by} (upstream gradient ${d.cotangent})`
    : `${KIND_TITLES[d.kind] || d.kind} of ${answer.expression} by ${by}`;
  // where the answer repeats a subexpression and naming it is shorter, its bound form: Z = X W, ..., the answer
  const shown = d.bound && d.bound.shorter ? d.bound : d;
  renderMath($("derivative-math"), shown.latex, shown.unicode);
  $("derivative-text").textContent = shown.text;
  $("derivative-unicode").textContent = shown.unicode;
  for (const id of ["derivative-text", "derivative-unicode"]) $(id).classList.toggle("lines", shown !== d);
  $("derivative-shape").textContent = d.shape.length ? d.shape.join(" × ") : "scalar";
  $("derivative-layout").textContent = d.layout;
  showForm("index", answer.index);
  showForm("vec", answer.vec);
  showSteps(answer.steps);
  showCode(answer.code);
  showCheck(answer.check);
  showVerdict(answer.verdict);
  show($("result"), true);
}

async function differentiate(event) {
  if (event) event.preventDefault();
  const error = $("error");
  show(error, false);
  if (!checkLengths()) return;
  if (!form.wrt.value) await updateVariables();
  const request = {
    expression: form.expression.value,
    where: form.where.value,
    wrt: form.wrt.value,
    order: Number(form.order.value),
    vjp: form.vjp.checked ? (form.cotangent.value.trim() || "G") : false,
  };
  if (!$("claim-field").hidden && form.claim.value.trim()) request.claim = form.claim.value;
  form.submit.disabled = true;
  $("busy").textContent = "Differentiating…";
  try {
    showAnswer(await postJSON("/api/derive", request));
  } catch (failure) {
    show($("result"), false);
    error.textContent = failure.message;
    show(error, true);
  } finally {
    checkLengths();
    $("busy").textContent = "";
  }
}

// ---- wiring ------------------------------------------------------------------------------------

function useExample(button) {
  form.expression.value = button.dataset.expression;
  form.where.value = button.dataset.where;
  form.order.value = button.dataset.order || "1";
  form.vjp.checked = false;
  form.cotangent.disabled = true;
  form.claim.value = "";
  form.wrt.dataset.wanted = button.dataset.wrt;
  updateVariables().then(() => differentiate());
}

document.addEventListener("DOMContentLoaded", () => {
  $("derive-form").addEventListener("submit", differentiate);
  form.where.addEventListener("input", variablesSoon);
  for (const input of [form.expression, form.where, form.claim]) input.addEventListener("input", checkLengths);
  form.vjp.addEventListener("change", () => {
    form.cotangent.disabled = !form.vjp.checked;
    if (form.vjp.checked) form.order.value = "1";
  });
  form.order.addEventListener("change", () => {
    if (form.order.value !== "1") {
      form.vjp.checked = false;
      form.cotangent.disabled = true;
    }
  });
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => selectBackend(tab.dataset.backend));
  }
  $("copy-code").addEventListener("click", copyCode);
  for (const button of document.querySelectorAll(".example")) {
    button.addEventListener("click", () => useExample(button));
  }
  document.body.dataset.katex = window.katex ? "yes" : "no";
  updateVariables();
});
