"""The admin for batches, items, stored images, webhook deliveries and daily usage; deleting there goes through the
services, as the owner's Delete does, so no stored file is left behind."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from removal import services
from removal.models import Batch, DailyUsage, Item, StoredImage, WebhookDelivery


class DeletesThroughTheService(admin.ModelAdmin):
    """Deleting here does what the owner's Delete does (files first, waiting jobs, then rows), one by one;
    the admin's own deletion would leave the stored files behind."""

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.delete_through_the_service(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            self.delete_through_the_service(obj)

    def delete_through_the_service(self, obj: Any) -> None:
        raise NotImplementedError


class ItemInline(admin.TabularInline):
    model = Item
    extra = 0
    can_delete = False
    fields = ("filename", "status", "attempts", "error", "processing_ms", "created_at")
    readonly_fields = fields
    show_change_link = True


@admin.register(Batch)
class BatchAdmin(DeletesThroughTheService):
    list_display = ("id", "name", "owner", "kind", "created_at")
    list_filter = ("kind", "created_at")
    search_fields = ("id", "name", "owner__username", "owner__email")
    readonly_fields = ("id", "owner", "kind", "created_at")
    inlines = [ItemInline]

    def delete_through_the_service(self, obj: Batch) -> None:
        services.batch_delete(batch=obj)


@admin.register(Item)
class ItemAdmin(DeletesThroughTheService):
    list_display = ("filename", "status", "batch", "attempts", "processing_ms", "created_at")
    list_filter = ("status", "created_at")
    search_fields = ("id", "filename", "batch__id", "batch__owner__username")
    readonly_fields = [field.name for field in Item._meta.fields]

    def delete_through_the_service(self, obj: Item) -> None:
        services.item_delete(item=obj)


@admin.register(StoredImage)
class StoredImageAdmin(DeletesThroughTheService):
    list_display = ("filename", "owner", "size_bytes", "created_at")
    list_filter = ("created_at",)
    search_fields = ("id", "filename", "owner__username")
    readonly_fields = ("id", "owner", "filename", "file", "size_bytes", "created_at")

    def delete_through_the_service(self, obj: StoredImage) -> None:
        services.stored_image_delete(image=obj)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("batch", "url", "status", "attempts", "last_status_code", "created_at")
    list_filter = ("status", "created_at")
    search_fields = ("batch__id", "url", "batch__owner__username")
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]


@admin.register(DailyUsage)
class DailyUsageAdmin(admin.ModelAdmin):
    list_display = ("owner", "day", "images", "previews")
    list_filter = ("day",)
    search_fields = ("owner__username",)
    readonly_fields = ("owner", "day", "images", "previews")
