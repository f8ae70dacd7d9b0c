{% macro script(this, kwargs) %}
{{ this._parent.get_name() }}.bindTooltip(function (layer) {
    let div = L.DomUtil.create('div');
    {% if this.fields %}
    let esc = v => String(v === null || v === undefined ? '' : (typeof v == 'object' ? JSON.stringify(v) : v))
        .replace(/[&<>"'`]/g, c => '&#' + c.charCodeAt(0) + ';');
    let fields = {{ this.fields | tojson | safe }};
    let aliases = {{ this.aliases | tojson | safe }};
    div.innerHTML = '<table>' + fields.map((v, i) =>
        '<tr>{% if this.labels %}<th>' + esc(aliases[i]) + '</th>{% endif %}'
        + '<td>' + esc(layer.feature.properties[v]) + '</td></tr>').join('') + '</table>';
    {% endif %}
    return div;
}, {{ this.tooltip_options | tojavascript }});
{% endmacro %}
