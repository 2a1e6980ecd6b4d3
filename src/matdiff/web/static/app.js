// The page of `matdiff serve`: sends the form to the JSON API and shows the answer.
// Everything the server says is put on the page with textContent (never as HTML); math goes
// through KaTeX with throwOnError false when KaTeX is vendored, else it shows as Unicode text.
"use strict";

const $ = (id) => document.getElementById(id);

const form = {
  expression: $("expression"), syntax: $("syntax"), where: $("where"), wrt: $("wrt"), order: $("order"),
  vjp: $("vjp"), cotangent: $("cotangent"), claim: $("claim"), submit: $("derive"),
};

// The languages the expression may be written in (the API's "syntax"), with what each input suggests.
const SYNTAXES = {
  matdiff: { name: "matdiff's language", hint: "(NumPy syntax)", expression: "W @ X", where: "W: m×q, X: q×n" },
  latex: {
    name: "LaTeX", hint: "(LaTeX: a formula, or a whole question)",
    expression: "\\frac{\\partial}{\\partial W} \\|XW - Y\\|_F^2",
    where: "X \\in \\mathbb{R}^{n \\times p}, W \\in \\mathbb{R}^{p \\times k}, Y \\in \\mathbb{R}^{n \\times k}",
  },
  matrixcalculus: {
    name: "matrixcalculus.org's syntax", hint: "(as typed into matrixcalculus.org)", expression: "norm2(X*w-y)^2",
    where: "optional: x: n, A: n×n (undeclared names are typed by their first letter)",
  },
};
const SYNTAX_KEY = "matdiff.syntax";  // the chosen language, remembered across visits
// a derivative asked in LaTeX, as the server tells one (derive.py's QUESTION): its variable need not be chosen
const QUESTION = /\\partial|\\nabla|∂|^\s*\\[cdt]?frac\s*\{\s*(?:\\delta|d)/;
const AS_ASKED = "";  // the "with respect to" choice that leaves the variable to the question

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

function asksQuestion() {
  return form.syntax.value === "latex" && QUESTION.test(form.expression.value);
}

// A LaTeX question names its variable: then "with respect to" offers to leave it to the question, and does so.
function offerQuestionChoice(select) {
  const first = form.wrt.options[0];
  const offered = Boolean(first) && first.value === AS_ASKED;
  if (asksQuestion() && !offered) {
    const option = document.createElement("option");
    option.value = AS_ASKED;
    option.textContent = "as the question asks";
    form.wrt.prepend(option);
    if (select) form.wrt.selectedIndex = 0;
  } else if (!asksQuestion() && offered) {
    const chosen = form.wrt.selectedIndex === 0;
    first.remove();
    if (chosen && form.wrt.options.length) form.wrt.selectedIndex = 0;
  }
}

async function updateVariables() {
  if (variablesRequest) variablesRequest.abort();
  variablesRequest = new AbortController();
  const status = $("where-status");
  const asked = { where: form.where.value, syntax: form.syntax.value };
  // matrixcalculus.org types undeclared names by their first letter: the expression declares them too
  if (asked.syntax === "matrixcalculus") asked.expression = form.expression.value;
  try {
    const answer = await postJSON("/api/variables", asked, variablesRequest.signal);
    const previous = form.wrt.options.length ? form.wrt.value : AS_ASKED;
    const names = Object.keys(answer.variables);
    form.wrt.textContent = "";
    for (const name of names) {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = `${name}  (${answer.variables[name].shape_text})`;
      form.wrt.append(option);
    }
    offerQuestionChoice(true);
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
    offerQuestionChoice(true);
    status.textContent = error.message;
    status.classList.add("bad");
  }
}

function variablesSoon() {
  clearTimeout(variablesTimer);
  variablesTimer = setTimeout(updateVariables, 200);
}

// ---- the expression's language, and LaTeX shown as typed ---------------------------------------

function previewLatex() {
  const preview = $("expression-preview");
  const text = form.expression.value;
  const shown = form.syntax.value === "latex" && Boolean(window.katex) && text.trim() !== "";
  if (shown) window.katex.render(text, preview, { displayMode: true, throwOnError: false, trust: false });
  else preview.textContent = "";
  show(preview, shown);
}

function useSyntax() {
  const syntax = SYNTAXES[form.syntax.value];
  $("expression-hint").textContent = syntax.hint;
  form.expression.placeholder = syntax.expression;
  form.where.placeholder = syntax.where;
  previewLatex();
  offerQuestionChoice(true);
}

function rememberSyntax() {
  try {
    window.localStorage.setItem(SYNTAX_KEY, form.syntax.value);
  } catch (_) {  // storage refused (a private window): the choice lasts for this visit
  }
}

function recalledSyntax() {
  try {
    const syntax = window.localStorage.getItem(SYNTAX_KEY);
    return syntax && Object.hasOwn(SYNTAXES, syntax) ? syntax : "matdiff";
  } catch (_) {
    return "matdiff";
  }
}

function expressionTyped() {
  previewLatex();
  offerQuestionChoice(true);
  if (form.syntax.value === "matrixcalculus") variablesSoon();
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
  // how text in another language was understood: the function in matdiff's language, and the variable
  const read = answer.read;
  const translated = Boolean(read) && read.syntax !== "matdiff";
  $("read-as").textContent = translated
    ? `Read from ${SYNTAXES[read.syntax] ? SYNTAXES[read.syntax].name : read.syntax} as ${read.function}, ` +
      `by ${read.wrt.join(", ")}${read.question ? " (the variable the question asks for)" : ""}`
    : "";
  show($("read-as"), translated);
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
  if (!form.wrt.options.length) await updateVariables();
  const request = {
    expression: form.expression.value,
    syntax: form.syntax.value,
    where: form.where.value,
    order: Number(form.order.value),
    vjp: form.vjp.checked ? (form.cotangent.value.trim() || "G") : false,
  };
  if (form.wrt.value) request.wrt = form.wrt.value;  // none: the LaTeX question names it
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
  form.syntax.value = "matdiff";  // the examples are in matdiff's language
  rememberSyntax();
  form.expression.value = button.dataset.expression;
  form.where.value = button.dataset.where;
  form.order.value = button.dataset.order || "1";
  form.vjp.checked = false;
  form.cotangent.disabled = true;
  form.claim.value = "";
  form.wrt.dataset.wanted = button.dataset.wrt;
  useSyntax();
  updateVariables().then(() => differentiate());
}

document.addEventListener("DOMContentLoaded", () => {
  $("derive-form").addEventListener("submit", differentiate);
  form.where.addEventListener("input", variablesSoon);
  form.syntax.value = recalledSyntax();
  form.syntax.addEventListener("change", () => {
    rememberSyntax();
    useSyntax();
    updateVariables();  // LaTeX reads LaTeX declarations; matrixcalculus.org's names come from the expression
  });
  form.expression.addEventListener("input", expressionTyped);
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
  useSyntax();
  updateVariables();
});
