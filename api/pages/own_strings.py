"""The strings of an end user's own page (``/me``): key -> (中文, English). Part of ``strings.STRINGS``."""

OWN: dict[str, tuple[str, str]] = {
    "me.title": ("我的用气记录", "My gas deliveries"),
    "me.intro": ("输入实名登记时留的手机号，我们会发送一条短信验证码。凭验证码可查看送到您家的每一瓶气：送气日期、"
                 "气瓶追溯码、供应站、净重和入户安检结果。只凭手机号查不到任何记录。",
                 "Enter the phone number you gave when you registered to buy gas, and we text you a code. With it you "
                 "can see every cylinder delivered to you: the day, the trace code, the shop, the net weight and the "
                 "home safety check. A phone number alone shows nothing."),
    "me.phone": ("手机号", "Phone number"),
    "me.send": ("发送验证码", "Text me a code"),
    "me.sent": ("如果该号码已实名登记，验证码已发送至 {phone}，{minutes} 分钟内有效，只能使用一次。",
                "If this number is registered, a code was sent to {phone}; it works once, for {minutes} minutes."),
    "me.code": ("短信验证码（6 位数字）", "Code from the text message (6 digits)"),
    "me.open": ("查看记录", "Show my deliveries"),
    "me.again": ("重新获取验证码", "Get a new code"),
    "me.for": ("手机号 {phone} 的用气记录", "Deliveries for {phone}"),
    "me.none": ("没有找到送气记录。", "No deliveries found."),
    "me.when": ("日期", "Date"),
    "me.what": ("事项", "What"),
    "me.cylinder": ("气瓶", "Cylinder"),
    "me.shop": ("供应站", "Shop"),
    "me.net": ("净重（千克）", "Net (kg)"),
    "me.check": ("入户安检", "Safety check"),
    "me.check_none": ("未记录", "not recorded"),
    "me.check_ok": ("{ok} 项合格", "{ok} items passed"),
    "me.check_fail": ("{fail} 项不合格，{ok} 项合格", "{fail} items failed, {ok} passed"),
    "me.once": ("验证码已使用，离开本页后如需再次查看，请重新获取验证码。",
                "The code is used: to look again after leaving this page, get a new code."),
    "me.bad_phone": ("请填写正确的手机号（11 位数字）", "Enter a valid phone number (11 digits)"),
    "me.bad_code": ("验证码是 6 位数字", "The code is 6 digits"),
    "me.refused": ("验证码错误、已使用或已过期，请重新获取", "The code is wrong, used or expired: get a new one"),
    "me.too_many": ("操作过于频繁，请 {seconds} 秒后再试", "Too many tries: try again in {seconds} seconds"),
    "me.no_gateway": ("本平台暂未开通短信验证码，请拨打服务电话查询", "This platform sends no text codes yet: call the hotline"),
    "nav.me": ("我的用气记录", "My deliveries"),
}
