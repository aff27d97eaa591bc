from django.contrib import admin

from removal.models import Batch, Item, StoredImage, WebhookDelivery


class ItemInline(admin.TabularInline):
    model = Item
    extra = 0
    can_delete = False
    fields = ("filename", "status", "attempts", "error", "processing_ms", "created_at")
    readonly_fields = fields
    show_change_link = True


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "kind", "created_at")
    list_filter = ("kind", "created_at")
    search_fields = ("id", "owner__username", "owner__email")
    readonly_fields = ("id", "owner", "kind", "created_at")
    inlines = [ItemInline]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ("filename", "status", "batch", "attempts", "processing_ms", "created_at")
    list_filter = ("status", "created_at")
    search_fields = ("id", "filename", "batch__id", "batch__owner__username")
    readonly_fields = [field.name for field in Item._meta.fields]


@admin.register(StoredImage)
class StoredImageAdmin(admin.ModelAdmin):
    list_display = ("filename", "owner", "size_bytes", "created_at")
    list_filter = ("created_at",)
    search_fields = ("id", "filename", "owner__username")
    readonly_fields = ("id", "owner", "filename", "file", "size_bytes", "created_at")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("batch", "url", "status", "attempts", "last_status_code", "created_at")
    list_filter = ("status", "created_at")
    search_fields = ("batch__id", "url", "batch__owner__username")
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]
