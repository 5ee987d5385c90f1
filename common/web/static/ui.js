// The few behaviours the pages used to write inline (onclick, onsubmit), as one static script: the
// Content-Security-Policy of both apps allows scripts from the app's own files only (common/web/hardening.py).
(function () {
  'use strict';
  // A table row that opens its record: <tr data-href="/cases/…">.
  document.addEventListener('click', function (event) {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) { return; }
    const printer = target.closest('[data-print]');
    if (printer) { window.print(); return; }
    const row = target.closest('[data-href]');
    if (row && !target.closest('a, button, input, select, textarea, label')) {
      window.location.href = row.getAttribute('data-href');
    }
  });
  // A form that asks before it is sent: <form data-confirm="确定……？">.
  document.addEventListener('submit', function (event) {
    const form = event.target instanceof Element ? event.target.closest('form[data-confirm]') : null;
    if (form && !window.confirm(form.getAttribute('data-confirm'))) {
      event.preventDefault();
    }
  }, true);
  // A panel refreshed by HTMX, but not while someone types in one of its fields (the swap would lose it).
  document.addEventListener('htmx:beforeRequest', function (event) {
    const element = event.detail && event.detail.elt;
    if (element && element.hasAttribute && element.hasAttribute('data-skip-while-typing')
        && element.querySelector('input:focus, textarea:focus, select:focus')) {
      event.preventDefault();
    }
  });
  // An error answered to an HTMX request (common.web.problems): its Chinese message and what to do, shown
  // at the top of the page instead of nothing happening.
  document.addEventListener('htmx:responseError', function (event) {
    const xhr = event.detail && event.detail.xhr;
    if (!xhr || (xhr.getResponseHeader('content-type') || '').indexOf('text/html') !== 0) { return; }
    let box = document.getElementById('page-error');
    if (!box) {
      box = document.createElement('div');
      box.id = 'page-error';
      const main = document.querySelector('main') || document.body;
      main.insertBefore(box, main.firstChild);
    }
    box.innerHTML = xhr.responseText;
    box.scrollIntoView({ block: 'nearest' });
  });
  // A form the browser checks before sending (central's; the tablet lets the node check them): the message
  // in Chinese whatever the browser's own language.
  document.addEventListener('invalid', function (event) {
    const field = event.target;
    if (!field || !field.validity || !field.setCustomValidity) { return; }
    const v = field.validity;
    let message = '';
    if (v.valueMissing) { message = field.tagName === 'SELECT' || field.type === 'radio' || field.type === 'checkbox' ? '请选择此项' : '请填写此项'; }
    else if (v.typeMismatch || v.patternMismatch || v.badInput) { message = '格式不对，请检查后重新填写'; }
    else if (v.tooLong) { message = '内容过长'; }
    else if (v.tooShort) { message = '内容过短'; }
    else if (v.rangeUnderflow || v.rangeOverflow || v.stepMismatch) { message = '数值超出允许的范围'; }
    if (message) { field.setCustomValidity(message); }
  }, true);
  document.addEventListener('input', function (event) {
    const field = event.target;
    if (field && field.setCustomValidity) { field.setCustomValidity(''); }
  }, true);
  document.addEventListener('change', function (event) {
    const field = event.target;
    if (field && field.setCustomValidity) { field.setCustomValidity(''); }
  }, true);
})();
