// Small behaviours of every tablet page (no inline handlers, so a strict CSP can forbid them):
// - a file input becomes a big 「选择文件」 button with the chosen file's name beside it, instead of the
//   browser's own English "Choose File / No file chosen";
// - forms are checked by the node, which answers in Chinese naming the field, not by the browser's own
//   (English) validation bubbles;
// - a table row marked data-href opens its page wherever it is tapped (its first cell holds the real link).
(function () {
  function wrapFileInputs(root) {
    root.querySelectorAll('input[type=file]:not([data-picked])').forEach(function (input) {
      input.dataset.picked = '1';
      const pick = document.createElement('label');
      pick.className = 'btn small secondary file-pick';
      const text = document.createElement('span');
      text.textContent = input.multiple ? '选择文件（可多选）' : '选择文件';
      const name = document.createElement('span');
      name.className = 'file-name muted';
      name.textContent = '未选择文件';
      input.replaceWith(pick);
      pick.append(input, text);
      pick.after(name);
      input.addEventListener('change', function () {
        const files = Array.from(input.files || []).map(function (f) { return f.name; });
        name.textContent = files.length ? files.join('、') : '未选择文件';
      });
    });
  }
  function ready() {
    document.querySelectorAll('form').forEach(function (form) { form.noValidate = true; });
    wrapFileInputs(document);
    document.body.addEventListener('htmx:afterSwap', function (event) { wrapFileInputs(event.target); });
  }
  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', ready); } else { ready(); }
  document.addEventListener('click', function (event) {
    const row = event.target.closest('tr[data-href]');
    if (!row || event.target.closest('a,button,input,select,label,textarea')) { return; }
    window.location.href = row.dataset.href;
  });
})();
