/* Re-colours a review by the picked model's picked method and disables the methods that model
   lacks for it; without JS the page shows the server's default colouring. Mirrors colour() in
   bertdistill/explain/report.py. */
document.querySelectorAll('section.explained').forEach(function (section) {
  var weights = JSON.parse(section.querySelector('script.weights').textContent);
  var words = section.querySelectorAll('.review span[data-word]');
  var methods = section.querySelectorAll('input.method');
  function update() {
    var available = weights[section.querySelector('input.model:checked').value];
    methods.forEach(function (radio) { radio.disabled = !(radio.value in available); });
    var method = section.querySelector('input.method:checked');
    if (method.disabled) {
      method = section.querySelector('input.method:enabled');
      method.checked = true;
    }
    var chosen = available[method.value];
    var scale = 0;
    for (var word in chosen) scale = Math.max(scale, Math.abs(chosen[word]));
    words.forEach(function (span) {
      var word = span.dataset.word;  // own keys only: 'constructor' is a word too
      var weight = Object.prototype.hasOwnProperty.call(chosen, word) ? chosen[word] : 0;
      span.style.background = colour(weight, scale);
      span.title = weight ? weight.toFixed(4) : '';
    });
  }
  section.querySelectorAll('input[type=radio]').forEach(function (radio) {
    radio.addEventListener('change', update);
  });
});
function colour(weight, scale) {
  if (weight === 0 || scale <= 0) return 'transparent';
  var alpha = Math.min(1, Math.abs(weight) / scale).toFixed(2);
  return (weight > 0 ? 'rgba(46,160,67,' : 'rgba(215,58,73,') + alpha + ')';
}
