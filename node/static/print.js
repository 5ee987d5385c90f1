// Print in one tap: a link marked data-print loads its PDF into a hidden frame of this page and prints it from
// there, so the clerk stays on the page that issued the notice (no new tab, no viewer to close). Without
// JavaScript the link still opens the PDF.
(function () {
  function say(text, failed) {
    let box = document.getElementById('print-status');
    if (!box) {
      box = document.createElement('p');
      box.id = 'print-status';
      box.setAttribute('role', 'status');
      document.querySelector('main').prepend(box);
    }
    box.className = failed ? 'error' : 'notice';
    box.textContent = text;
  }
  document.addEventListener('click', function (event) {
    const link = event.target.closest('a[data-print]');
    if (!link) { return; }
    event.preventDefault();
    const title = link.dataset.print || link.textContent.trim();
    const old = document.getElementById('print-frame');
    if (old) { old.remove(); }
    const frame = document.createElement('iframe');
    frame.id = 'print-frame';
    frame.className = 'print-frame';
    frame.title = '打印：' + title;
    frame.setAttribute('aria-hidden', 'true');
    frame.tabIndex = -1;
    say('正在准备打印「' + title + '」……', false);
    frame.addEventListener('load', function () {
      try {
        frame.contentWindow.focus();
        frame.contentWindow.print();
        document.body.dataset.printed = link.getAttribute('href');
        say('已发送打印：「' + title + '」。请到打印机取件交申请人。', false);
      } catch (err) {
        say('无法直接打印「' + title + '」，请检查打印机后再点一次。', true);
      }
    });
    frame.src = link.getAttribute('href');
    document.body.append(frame);
  });
})();
