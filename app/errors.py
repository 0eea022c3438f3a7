"""Error pages in the user's language that reveal nothing internal; denials are written to the audit log."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.audit.models import AuditAction
from app.audit.operations import record_after_reading
from app.extensions import db
from app.files.storage import StoredFileCorrupt


def _page(status: int, title: str, message: str):
    if request.accept_mimetypes.best == "application/json":
        return {"error": title, "message": message}, status
    return render_template("errors/error.html", status=status, title=title, message=message), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(_error):
        return _page(400, _("请求已失效"), _("表单已过期或缺少安全令牌，请返回上一页刷新后重新提交。"))

    @app.errorhandler(400)
    def bad_request(_error):
        return _page(400, _("请求有误"), _("提交的内容无法处理，请检查后重试。"))

    @app.errorhandler(403)
    def forbidden(_error):
        db.session.rollback()
        # A refused GET is audited too.
        record_after_reading(AuditAction.DENIED, object_type="route", summary=f"{request.method} {request.path}"[:300])
        return _page(403, _("无权访问"), _("您没有访问该页面或数据的权限。"))

    @app.errorhandler(404)
    def not_found(_error):
        return _page(404, _("页面不存在"), _("您要找的页面或记录不存在，可能已被删除或地址有误。"))

    @app.errorhandler(405)
    def method_not_allowed(_error):
        return _page(405, _("请求方式不正确"), _("该页面不支持此操作。"))

    @app.errorhandler(413)
    def too_large(_error):
        limit = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        return _page(413, _("文件过大"), _("上传的内容超过了 %(n)d MB 的上限。", n=limit))

    @app.errorhandler(StoredFileCorrupt)
    def stored_file_corrupt(error):
        # The bytes on disk no longer match what was uploaded: say so plainly, and leave a trace for the admin.
        app.logger.error("stored file failed its check: %s", error)
        return _page(410, _("文件不可用"), _("该文件已损坏或丢失，系统已记录。请联系系统管理员从备份中恢复。"))

    @app.errorhandler(500)
    def server_error(_error):
        db.session.rollback()
        return _page(500, _("系统错误"), _("服务器处理请求时出错，已记录。请稍后再试，或联系系统管理员。"))

    @app.errorhandler(HTTPException)
    def other_http_error(error):
        return _page(error.code or 500, _("请求未完成"), _("请求无法完成（错误 %(code)s）。", code=error.code))

    app.jinja_env.globals.setdefault("current_user", current_user)
