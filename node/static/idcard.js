// 读取身份证 on the new-case form: reads the card through the node's reader and fills the applicant fields.
// A static file (not inline) so the pages' Content-Security-Policy allows scripts from the app only.
(function () {
  const button = document.getElementById('idcard-read');
  const status = document.getElementById('idcard-status');
  const facts = document.getElementById('idcard-facts');
  function set(selector, value) {
    const el = document.querySelector(selector);
    if (el) { el.value = value; el.dispatchEvent(new Event('change', {bubbles: true})); }
  }
  function fact(term, value) {
    const dt = document.createElement('dt'); dt.textContent = term;
    const dd = document.createElement('dd'); dd.textContent = value;
    facts.append(dt, dd);
  }
  button.addEventListener('click', async function () {
    button.disabled = true;
    status.className = 'muted';
    status.textContent = '正在读卡……';
    try {
      const response = await fetch('/api/v1/devices/idcard/read', {method: 'POST', headers: {'Accept': 'application/json'}});
      const body = await response.json();
      if (!response.ok) {
        status.className = 'error';
        status.textContent = body.detail || '读卡失败';
        return;
      }
      const person = document.querySelector('input[name=kind][value=natural_person]');
      if (person) { person.checked = true; }
      set('#name', body.name);
      set('#cert_type', body.cert_type);
      set('#cert_number', body.cert_number);
      set('input[name=sex]', body.sex);
      set('input[name=birth_date]', body.birth_date);
      facts.replaceChildren();
      fact('性别', body.sex_label);
      fact('民族', body.nation);
      fact('出生', body.birth_date);
      fact('住址', body.address);
      fact('签发机关', body.authority);
      fact('有效期限', body.valid_from + ' 至 ' + body.valid_to);
      fact('证件照', body.photo_decoded ? '已读取' : (body.photo_kept ? '已保存原始数据（未安装解码插件，不显示）' : '无'));
      facts.hidden = false;
      if (body.number_valid) {
        status.className = 'notice';
        status.textContent = '已读取「' + body.name + '」的身份证，申请人信息已填入，请核对';
      } else {
        status.className = 'error';
        status.textContent = '身份证已读取，但号码校验不通过：' + body.number_problem;
      }
    } catch (err) {
      status.className = 'error';
      status.textContent = '读卡失败：无法连接本机服务';
    } finally {
      button.disabled = false;
    }
  });
})();
