"""The portal's URLs, included under /portal/ with the namespace "portal"."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from members.portal import views
from members.portal.forms import MemberLoginForm, MemberPasswordResetForm

app_name = "portal"

urlpatterns = [
    path("", views.invoice_list, name="invoice_list"),
    path("invoices/<int:pk>/", views.invoice_detail, name="invoice_detail"),
    path("invoices/<int:pk>/print/", views.invoice_print, name="invoice_print"),
    path("invoices/<int:pk>/pdf/", views.invoice_download, name="invoice_pdf"),
    path("invoices/<int:pk>/pay/", views.invoice_pay, name="invoice_pay"),
    path("invoices/pay-all/<str:currency>/", views.invoices_pay_all, name="invoices_pay_all"),
    path("payments/", views.payment_list, name="payment_list"),
    path("payments/<int:pk>/", views.payment_status, name="payment_status"),
    path("payments/<int:pk>/status.json", views.payment_status_json, name="payment_status_json"),
    path("receipts/<int:pk>/", views.receipt, name="receipt"),
    path("receipts/<int:pk>/pdf/", views.receipt_download, name="receipt_pdf"),
    path("cards/", views.card_list, name="card_list"),
    path("cards/add/", views.card_add, name="card_add"),
    path("cards/setup/", views.card_setup, name="card_setup"),
    path("cards/<int:pk>/default/", views.card_set_default, name="card_set_default"),
    path("cards/<int:pk>/remove/", views.card_remove, name="card_remove"),
    path("credit/", views.credit, name="credit"),
    path("language/", views.language_choose, name="language"),
    # Log in by email (rate limited by django-axes), log out (POST), reset a forgotten password by mail.
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="portal/login.html",
            authentication_form=MemberLoginForm,
            next_page=reverse_lazy("portal:invoice_list"),
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page=reverse_lazy("portal:login")), name="logout"),
    path(
        "password-reset/",
        views.MemberPasswordResetView.as_view(
            template_name="portal/password_reset_form.html",
            form_class=MemberPasswordResetForm,
            email_template_name="portal/mail/password_reset.txt",
            subject_template_name="portal/mail/password_reset_subject.txt",
            success_url=reverse_lazy("portal:password_reset_done"),
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="portal/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="portal/password_reset_confirm.html",
            success_url=reverse_lazy("portal:password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="portal/password_reset_complete.html"),
        name="password_reset_complete",
    ),
]
